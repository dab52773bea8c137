# SPDX-License-Identifier: GPL-3.0-or-later
"""Just enough of nf_tables' netlink interface to load one `ip` table atomically, from Python alone (the lab's nodes
carry no `nft` binary; the real snap ships its own iptables). A table is a list of chains and rules; a rule is a
list of expressions built by the helpers below (the same expressions `nft` would send). `replace()` sends one batch:
create the table, delete it, create it again with its chains and rules, as `nft -f` does with
`table ip T {}; delete table ip T; table ip T {...}`: the kernel applies all of it or none; conntrack entries (the
connections already translated) are kept.

`describe()` renders a table in nft's own syntax, for logs and tests."""

from __future__ import annotations

import ipaddress
import itertools
import os
import socket
import struct
from dataclasses import dataclass, field

NETLINK_NETFILTER = 12
NFNL_SUBSYS_NFTABLES = 10
BATCH_BEGIN, BATCH_END = 0x10, 0x11
MSG_NEWTABLE, MSG_DELTABLE, MSG_NEWCHAIN, MSG_NEWRULE = 0, 2, 3, 6
NLMSG_ERROR = 2
F_REQUEST, F_ACK, F_CREATE, F_APPEND = 0x1, 0x4, 0x400, 0x800
NLA_F_NESTED = 0x8000
NFPROTO_IPV4 = 2
HOOKS = {"prerouting": 0, "input": 1, "forward": 2, "output": 3, "postrouting": 4}
REG_VERDICT, REG_1, REG_2 = 0, 1, 2
VERDICTS = {"drop": 0, "accept": 1, "jump": -3, "goto": -4, "return": -5}
META_MARK, META_L4PROTO = 3, 16
PAYLOAD_NETWORK, PAYLOAD_TRANSPORT = 1, 2
RTN_LOCAL = 2

Expr = tuple[str, list]  # (expression name, [(attribute type, value)]) with value bytes or a nested list


@dataclass
class Rule:
    chain: str
    exprs: list[Expr]
    text: str  # the rule in nft syntax


@dataclass
class Table:
    name: str
    chains: dict[str, tuple[str, str, int] | None] = field(default_factory=dict)  # name -> (type, hook, priority)
    rules: list[Rule] = field(default_factory=list)

    def chain(self, name: str, base: tuple[str, str, int] | None = None) -> str:
        self.chains.setdefault(name, base)
        return name

    def add(self, chain: str, *parts: tuple[list[Expr], str]) -> None:
        """A rule made of `parts`, each (expressions, nft text) from the helpers below."""
        self.rules.append(Rule(chain, [e for p in parts for e in p[0]], " ".join(p[1] for p in parts)))


def be32(value: int) -> bytes:
    return struct.pack("!i" if value < 0 else "!I", value)


def data(value: bytes) -> list:
    return [(1, value)]  # NFTA_DATA_VALUE


def cmp(value: bytes, op: int = 0, reg: int = REG_1) -> Expr:
    """NFT_CMP_EQ (0) or NFT_CMP_NEQ (1) against the register."""
    return ("cmp", [(1, be32(reg)), (2, be32(op)), (3, data(value))])


def bitwise(mask: bytes, xor: bytes) -> Expr:
    """reg1 = (reg1 & mask) ^ xor."""
    return ("bitwise", [(1, be32(REG_1)), (2, be32(REG_1)), (3, be32(len(mask))), (4, data(mask)), (5, data(xor))])


PROTOCOLS = {"TCP": (6, "tcp"), "UDP": (17, "udp")}


def l4proto(protocol: str) -> tuple[list[Expr], str]:
    number, name = PROTOCOLS[protocol]
    return [("meta", [(2, be32(META_L4PROTO)), (1, be32(REG_1))]), cmp(bytes([number]))], f"meta l4proto {name}"


def tcp() -> tuple[list[Expr], str]:
    return l4proto("TCP")


def address(field_name: str, ip: str, negate: bool = False) -> tuple[list[Expr], str]:
    """`ip saddr|daddr [!=] ADDRESS` where ADDRESS may be a prefix (a bitwise mask, then the comparison)."""
    network = ipaddress.ip_network(ip)
    offset = 12 if field_name == "saddr" else 16
    exprs: list[Expr] = [("payload", [(1, be32(REG_1)), (2, be32(PAYLOAD_NETWORK)), (3, be32(offset)), (4, be32(4))])]
    if network.prefixlen < 32:
        exprs.append(bitwise(network.netmask.packed, b"\0" * 4))
    exprs.append(cmp(network.network_address.packed, op=1 if negate else 0))
    shown = str(network) if network.prefixlen < 32 else str(network.network_address)
    return exprs, f"ip {field_name} {'!= ' if negate else ''}{shown}"


def dport(port: int, protocol: str = "TCP") -> tuple[list[Expr], str]:
    """The destination port (same offset in TCP and UDP headers; match the protocol first)."""
    payload = ("payload", [(1, be32(REG_1)), (2, be32(PAYLOAD_TRANSPORT)), (3, be32(2)), (4, be32(2))])
    return [payload, cmp(struct.pack("!H", port))], f"{PROTOCOLS[protocol][1]} dport {port}"


def local(field_name: str = "daddr") -> tuple[list[Expr], str]:
    """`fib daddr|saddr type local`: the address is one of this node's."""
    flag = 2 if field_name == "daddr" else 1
    fib = ("fib", [(1, be32(REG_1)), (2, be32(3)), (3, be32(flag))])  # result: address type
    return [fib, cmp(struct.pack("=I", RTN_LOCAL))], f"fib {field_name} type local"


def random_one_in(count: int) -> tuple[list[Expr], str]:
    """True for one packet in `count`, at random (`numgen random mod count == 0`)."""
    numgen = ("numgen", [(1, be32(REG_1)), (2, be32(count)), (3, be32(1))])  # type random
    return [numgen, cmp(b"\0\0\0\0")], f"numgen random mod {count} == 0"


def mark_is(bit: int) -> tuple[list[Expr], str]:
    load = ("meta", [(2, be32(META_MARK)), (1, be32(REG_1))])
    exprs = [load, bitwise(struct.pack("=I", bit), b"\0" * 4), cmp(struct.pack("=I", bit))]
    return exprs, f"meta mark & {bit:#x} == {bit:#x}"


def set_mark_bit(bit: int) -> tuple[list[Expr], str]:
    """`meta mark set mark or BIT`."""
    load = ("meta", [(2, be32(META_MARK)), (1, be32(REG_1))])
    keep = struct.pack("=I", 0xFFFFFFFF ^ bit)
    ored = bitwise(keep, struct.pack("=I", bit))
    store = ("meta", [(2, be32(META_MARK)), (3, be32(REG_1))])
    return [load, ored, store], f"meta mark set mark or {bit:#x}"


def verdict(kind: str, chain: str | None = None) -> tuple[list[Expr], str]:
    inner = [(1, be32(VERDICTS[kind]))] + ([(2, chain.encode() + b"\0")] if chain else [])
    return [("immediate", [(1, be32(REG_VERDICT)), (2, [(2, inner)])])], f"{kind} {chain}" if chain else kind


def dnat(ip: str, port: int) -> tuple[list[Expr], str]:
    exprs: list[Expr] = [
        ("immediate", [(1, be32(REG_1)), (2, data(ipaddress.IPv4Address(ip).packed))]),
        ("immediate", [(1, be32(REG_2)), (2, data(struct.pack("!H", port)))]),
        ("nat", [(1, be32(1)), (2, be32(NFPROTO_IPV4)), (3, be32(REG_1)), (5, be32(REG_2))]),  # type dnat
    ]
    return exprs, f"dnat to {ip}:{port}"


def masquerade() -> tuple[list[Expr], str]:
    return [("masq", [])], "masquerade"


def reject_port_unreachable() -> tuple[list[Expr], str]:
    """`reject` (ICMP port unreachable: the client's connect fails with 'connection refused')."""
    return [("reject", [(1, be32(0)), (2, b"\x03")])], "reject"


# -- netlink encoding --------------------------------------------------------------------------------------------


def attrs(items: list) -> bytes:
    out = b""
    for kind, value in items:
        if isinstance(value, list):
            value, kind = attrs(value), kind | NLA_F_NESTED
        out += struct.pack("=HH", 4 + len(value), kind) + value + b"\0" * (-len(value) % 4)
    return out


def expressions(exprs: list[Expr]) -> list:
    elements = []
    for name, fields in exprs:
        element = [(1, name.encode() + b"\0")] + ([(2, fields)] if fields else [])
        elements.append((1, element))  # NFTA_LIST_ELEM
    return elements


def message(kind: int, flags: int, seq: int, body: bytes, family: int = NFPROTO_IPV4, subsys: bool = True) -> bytes:
    msg_type = (NFNL_SUBSYS_NFTABLES << 8 | kind) if subsys else kind
    res_id = NFNL_SUBSYS_NFTABLES if not subsys else 0
    payload = struct.pack("=BBH", family, 0, socket.htons(res_id)) + body
    return struct.pack("=IHHII", 16 + len(payload), msg_type, flags, seq, 0) + payload


def batch(parts: list[tuple[int, int, bytes]], seq: itertools.count) -> bytes:
    """The messages `parts` (kind, flags, body) framed by BATCH_BEGIN and BATCH_END: one transaction."""
    out = message(BATCH_BEGIN, F_REQUEST, next(seq), b"", family=0, subsys=False)
    out += b"".join(message(kind, flags, next(seq), body) for kind, flags, body in parts)
    return out + message(BATCH_END, F_REQUEST, next(seq), b"", family=0, subsys=False)


def name_attr(name: str) -> bytes:
    return attrs([(1, name.encode() + b"\0")])


def replace_parts(table: Table) -> list[tuple[int, int, bytes]]:
    """Create (if missing), delete, create again with every chain and rule."""
    ask = F_REQUEST | F_ACK
    parts = [(MSG_NEWTABLE, ask | F_CREATE, name_attr(table.name)), (MSG_DELTABLE, ask, name_attr(table.name))]
    parts.append((MSG_NEWTABLE, ask | F_CREATE, name_attr(table.name)))
    for chain, base in table.chains.items():
        items = [(1, table.name.encode() + b"\0"), (3, chain.encode() + b"\0")]
        if base:
            kind, hook, priority = base
            items += [(4, [(1, be32(HOOKS[hook])), (2, be32(priority))]), (7, kind.encode() + b"\0")]
        parts.append((MSG_NEWCHAIN, ask | F_CREATE, attrs(items)))
    for rule in table.rules:
        items = [(1, table.name.encode() + b"\0"), (2, rule.chain.encode() + b"\0"), (4, expressions(rule.exprs))]
        parts.append((MSG_NEWRULE, ask | F_CREATE | F_APPEND, attrs(items)))
    return parts


def replies(chunk: bytes):
    """(type, error code) of each netlink message in a received chunk (error code only for NLMSG_ERROR)."""
    offset = 0
    while offset + 16 <= len(chunk):
        length, kind = struct.unpack_from("=IH", chunk, offset)
        code = struct.unpack_from("=i", chunk, offset + 16)[0] if kind == NLMSG_ERROR else None
        yield kind, code
        offset += max(16, (length + 3) & ~3)


class Kernel:
    """Loads tables into this network namespace's nf_tables."""

    def __init__(self):
        self.seq = itertools.count(1)

    def replace(self, table: Table) -> None:
        """Raises OSError with the kernel's reason when the batch is refused (then nothing changed)."""
        self.send(replace_parts(table), f"load table ip {table.name}")

    def delete(self, name: str) -> None:
        """Drop the table if it is there (created first in the same batch, so a missing table is no error)."""
        ask = F_REQUEST | F_ACK
        self.send([(MSG_NEWTABLE, ask | F_CREATE, name_attr(name)), (MSG_DELTABLE, ask, name_attr(name))],
                  f"delete table ip {name}")  # fmt: skip

    def send(self, parts: list[tuple[int, int, bytes]], what: str) -> None:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.settimeout(5)
            sock.bind((0, 0))
            sock.send(batch(parts, self.seq))
            acked = 0
            while acked < len(parts):
                for kind, code in replies(sock.recv(1 << 20)):
                    if kind == NLMSG_ERROR and code:
                        raise OSError(-code, f"nf_tables: cannot {what}: {os.strerror(-code)}")
                    acked += kind == NLMSG_ERROR


def describe(table: Table) -> str:
    """The table in nft syntax (what `nft list table ip NAME` prints, give or take the spelling of a few exprs)."""
    lines = [f"table ip {table.name} {{"]
    for chain, base in table.chains.items():
        lines.append(f"\tchain {chain} {{")
        if base:
            lines.append(f"\t\ttype {base[0]} hook {base[1]} priority {base[2]}; policy accept;")
        lines += [f"\t\t{rule.text}" for rule in table.rules if rule.chain == chain]
        lines.append("\t}")
    return "\n".join([*lines, "}"])
