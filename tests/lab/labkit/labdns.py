# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab's DNS server (client1, and the double's ACME contract tests on the host): authoritative for the zones
it is given, with static A records, and accepting RFC 2136 dynamic updates signed with a TSIG key (RFC 8945), as a
user's own DNS server does for cert-manager's DNS-01 `rfc2136` solver. pebble's `-dnsserver` points at it.

    labdns.py --listen 10.0.0.5:53 --zone home.arpa --record 'hello.home.arpa=10.0.0.9' --record '*.home.arpa=...'
              --tsig acme-update:hmac-sha256:BASE64SECRET [--log FILE]

UDP and TCP on the same port. An unsigned UPDATE is REFUSED, a badly signed one NOTAUTH (dnspython checks the
MAC). Test tooling only, nothing of it is in the product. Needs dnspython."""

from __future__ import annotations

import argparse
import base64
import socketserver
import struct
import sys
import threading

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.tsig
import dns.tsigkeyring

ALGORITHMS = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


class Zones:
    """The records (name, type) -> set of rdata texts, under a lock (UDP and TCP threads share them)."""

    def __init__(self, zones: list[str], keyring: dict, log=None):
        self.zones = [dns.name.from_text(z) for z in zones]
        self.keyring = keyring
        self.records: dict[tuple[dns.name.Name, int], set[str]] = {}
        self.lock = threading.Lock()
        self.log = log

    def say(self, text: str) -> None:
        if self.log:
            print(text, file=self.log, flush=True)

    def zone_of(self, name: dns.name.Name) -> dns.name.Name | None:
        found = [z for z in self.zones if name.is_subdomain(z)]
        return max(found, key=len) if found else None

    def add(self, name: str, rdtype: str, value: str) -> None:
        self.records.setdefault((dns.name.from_text(name), dns.rdatatype.from_text(rdtype)), set()).add(value)

    def lookup(self, name: dns.name.Name, rdtype: int) -> tuple[list[str], bool]:
        """(values, name exists); a `*.zone` record answers for any name below it without records of its own."""
        exact = {t: v for (n, t), v in self.records.items() if n == name and v}
        if exact or name in self.zones:
            return sorted(exact.get(rdtype, ())), True
        wildcard = dns.name.Name(("*",)).concatenate(name.parent()) if len(name) > 1 else None
        values = self.records.get((wildcard, rdtype)) if wildcard else None
        wild_exists = any(n == wildcard and v for (n, _t), v in self.records.items())
        return sorted(values or ()), wild_exists

    def answer(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire, keyring=self.keyring)
        except (dns.tsig.BadSignature, dns.tsig.BadTime, dns.tsig.PeerError, dns.message.UnknownTSIGKey) as error:
            self.say(f"refused a message with a bad TSIG: {error!r}")
            return self.error(wire, dns.rcode.NOTAUTH)
        except dns.exception.DNSException:
            return None
        if query.opcode() == dns.opcode.UPDATE:
            return self.update(query).to_wire()
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.AA
        with self.lock:
            for question in query.question:
                zone = self.zone_of(question.name)
                if zone is None:
                    reply.set_rcode(dns.rcode.REFUSED)
                    continue
                if question.rdtype == dns.rdatatype.SOA and question.name == zone:
                    reply.answer.append(self.soa(zone))
                    values, exists = ["SOA"], True
                elif question.rdtype == dns.rdatatype.SOA:
                    values, exists = [], self.lookup(question.name, question.rdtype)[1]
                    reply.authority.append(self.soa(zone))
                else:
                    values, exists = self.lookup(question.name, question.rdtype)
                if not exists:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                    reply.authority.append(self.soa(zone))
                elif values and question.rdtype != dns.rdatatype.SOA:
                    reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", question.rdtype, values))
                self.say(f"query {question.name} {dns.rdatatype.to_text(question.rdtype)} -> {values or 'none'}")
        return reply.to_wire()

    def soa(self, zone: dns.name.Name) -> dns.rrset.RRset:
        return dns.rrset.from_text(zone, 60, "IN", "SOA", f"ns.{zone} hostmaster.{zone} 1 60 60 600 60")

    def update(self, message) -> dns.message.Message:
        reply = dns.message.make_response(message)
        if not message.had_tsig:
            self.say("refused an unsigned update")
            reply.set_rcode(dns.rcode.REFUSED)
            return reply
        zone = message.zone[0].name if message.zone else None
        if zone is None or zone not in self.zones:
            reply.set_rcode(dns.rcode.NOTAUTH)
            return reply
        with self.lock:
            for rrset in message.update:
                if not rrset.name.is_subdomain(zone):
                    reply.set_rcode(dns.rcode.NOTZONE)
                    return reply
            for rrset in message.update:
                key, deleting = (rrset.name, rrset.rdtype), rrset.deleting or rrset.rdclass
                if deleting == dns.rdataclass.ANY:  # delete the RRset (or all RRsets of the name)
                    for found in [k for k in self.records if k[0] == rrset.name and rrset.rdtype in (k[1], 255)]:
                        del self.records[found]
                elif deleting == dns.rdataclass.NONE:  # delete these RRs
                    self.records.get(key, set()).difference_update(r.to_text() for r in rrset)
                else:
                    self.records.setdefault(key, set()).update(r.to_text() for r in rrset)
                self.say(f"update by {message.keyname}: {rrset.to_text()}")
        return reply

    def error(self, wire: bytes, rcode: int) -> bytes | None:
        if len(wire) < 12:
            return None
        ident, flags = struct.unpack("!HH", wire[:4])
        return struct.pack("!HHHHHH", ident, (flags | 0x8000) & 0xFFF0 | rcode, 0, 0, 0, 0)


def servers(zones: Zones, host: str, port: int) -> list[socketserver.BaseServer]:
    class Udp(socketserver.BaseRequestHandler):
        def handle(self):
            data, sock = self.request
            reply = zones.answer(data)
            if reply:
                sock.sendto(reply, self.client_address)

    class Tcp(socketserver.StreamRequestHandler):
        def handle(self):
            while header := self.rfile.read(2):
                if len(header) < 2:
                    return
                data = self.rfile.read(struct.unpack("!H", header)[0])
                reply = zones.answer(data)
                if reply is None:
                    return
                self.wfile.write(struct.pack("!H", len(reply)) + reply)

    socketserver.ThreadingUDPServer.allow_reuse_address = True
    socketserver.ThreadingTCPServer.allow_reuse_address = True
    udp = socketserver.ThreadingUDPServer((host, port), Udp)
    tcp = socketserver.ThreadingTCPServer((host, udp.server_address[1]), Tcp)
    for server in (udp, tcp):
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
    return [udp, tcp]


def keyring_of(specs: list[str]) -> dict:
    """`name:algorithm:base64secret` -> a dnspython keyring."""
    keys = {}
    for spec in specs:
        name, algorithm, secret = spec.split(":", 2)
        if algorithm.lower() not in ALGORITHMS:
            raise SystemExit(f"labdns: unknown TSIG algorithm {algorithm!r} (one of {', '.join(ALGORITHMS)})")
        base64.b64decode(secret, validate=True)
        keys[name] = (ALGORITHMS[algorithm.lower()], secret)
    return dns.tsigkeyring.from_text(keys)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--listen", default="127.0.0.1:53", help="address:port (UDP and TCP)")
    parser.add_argument("--zone", action="append", default=[], help="a zone it is authoritative for")
    parser.add_argument("--record", action="append", default=[], help="NAME=IPV4 (an A record; *.zone allowed)")
    parser.add_argument("--tsig", action="append", default=[], help="NAME:ALGORITHM:BASE64SECRET")
    parser.add_argument("--tsig-file", action="append", default=[], help="NAME:ALGORITHM:FILE (the secret in FILE)")
    parser.add_argument("--log", help="append what it answers to this file")
    args = parser.parse_args(argv)
    from_files = []
    for spec in args.tsig_file:
        name, algorithm, path = spec.split(":", 2)
        with open(path, encoding="utf-8") as secret:
            from_files.append(f"{name}:{algorithm}:{secret.read().strip()}")
    ring = keyring_of(args.tsig + from_files)
    log = open(args.log, "a", encoding="utf-8") if args.log else None  # noqa: SIM115 (open for the server's life)
    zones = Zones(args.zone, ring, log)
    for record in args.record:
        name, _sep, address = record.partition("=")
        zones.add(name if name.endswith(".") else name + ".", "A", address)
    host, _sep, port = args.listen.rpartition(":")
    running = servers(zones, host, int(port))
    print(f"labdns listening on {host}:{running[0].server_address[1]}", flush=True)
    threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
