#!/usr/bin/python
# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: microk8s_token
short_description: Create a join token on a MicroK8s control-plane node
version_added: "0.1.0"
description:
  - Registers a cluster join token with C(microk8s add-node) on a control-plane node and returns the join URL
    (C(IP:PORT/TOKEN/FINGERPRINT)) that M(onprem.microk8s.microk8s_join) takes on the joining node.
  - The token is a secret. The module never logs it, and failures mask it, but the purpose of the module is to
    hand it to the joiner, so RV(join_url) and RV(token) carry it. Set C(no_log=true) on the task so that
    Ansible does not print the result.
options:
  token:
    description:
      - The token to register, at least 32 characters (C(add-node) refuses shorter ones) without C(/), C(|) or
        whitespace.
      - When omitted, a random one is made (32 lowercase hexadecimal characters, as MicroK8s itself does).
    type: str
  ttl:
    description:
      - C(-1) (the default) makes a single-use token - C(add-node) without C(--token-ttl). The cluster deletes it at
        the first join request, even if that join then fails, so a leaked token is worth nothing once used; a
        retried join needs a new token.
      - A number of seconds makes a token that stays valid until then and can be used by several joins.
    type: int
    default: -1
  address:
    description:
      - The address of this node that the joining node should contact. It must be one of the addresses
        C(add-node) lists (this node's addresses without the CNI ones); otherwise the module fails and lists them.
      - When omitted, the first URL C(add-node) prints. Up to 1.23 that is the default-route interface; from 1.24
        the JSON output follows C(hostname -I), so set this option on nodes with several addresses.
    type: str
  timeout:
    description: Seconds C(microk8s add-node) may take.
    type: int
    default: 120
attributes:
  check_mode:
    support: full
    details:
      - In check mode nothing is registered and C(join_url), C(token) and C(urls) are not returned.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run registers a token (a token with a TTL stays valid until it expires).
extends_documentation_fragment:
  - onprem.microk8s.attributes
  - onprem.microk8s.attributes.actiongroup_microk8s
notes:
  - Run it on a control-plane node; a worker node refuses (C(Please use the microk8s add-node on the master)).
  - MicroK8s 1.20 join URLs have no fingerprint (C(IP:PORT/TOKEN)); from 1.21 they end in the first 12 hexadecimal
    characters of the SHA-256 of the cluster agent's certificate.
  - Versions 1.20 to 1.23 print text, which is parsed; from 1.24 C(add-node --format json) is used.
seealso:
  - module: onprem.microk8s.microk8s_join
author:
  - onprem.microk8s contributors (!UNKNOWN)
"""

EXAMPLES = r"""
---
- name: Create a join token on the first control-plane node
  onprem.microk8s.microk8s_token:
    ttl: 900
    address: "{{ hostvars[groups['masters'][0]].ansible_host }}"
  delegate_to: "{{ groups['masters'][0] }}"
  register: __microk8s_token
  no_log: true

- name: Join this node with it
  onprem.microk8s.microk8s_join:
    url: "{{ __microk8s_token.join_url }}"
  no_log: true
"""

RETURN = r"""
join_url:
  description: The URL to pass to C(microk8s join) for the chosen address. Contains the token.
  returned: success and not check mode
  type: str
  sample: 10.77.0.11:25000/0123456789abcdef0123456789abcdef/2f3bd07a6f1e
token:
  description: The token registered (the one given, or the generated one).
  returned: success and not check mode
  type: str
  sample: 0123456789abcdef0123456789abcdef
urls:
  description: Every join URL C(add-node) offered, one per address of this node. They contain the token.
  returned: success and not check mode
  type: list
  elements: str
  sample: [10.77.0.11:25000/0123456789abcdef0123456789abcdef/2f3bd07a6f1e]
address:
  description: The address in C(join_url).
  returned: success and not check mode
  type: str
  sample: 10.77.0.11
port:
  description: The cluster agent port in C(join_url).
  returned: success and not check mode
  type: int
  sample: 25000
fingerprint:
  description: The certificate fingerprint in C(join_url); null on MicroK8s 1.20.
  returned: success and not check mode
  type: str
  sample: 2f3bd07a6f1e
ttl:
  description: The token's lifetime in seconds (C(-1) = single use, no expiry).
  returned: always
  type: int
  sample: -1
"""

import re
import secrets

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.onprem.microk8s.plugins.module_utils import _parsers as parsers
from ansible_collections.onprem.microk8s.plugins.module_utils._microk8s import Microk8sError, run_module, supports

MIN_TOKEN_LENGTH = 32

#: What add-node prints when it refuses (contract §2 and §5), and what to do about it.
REFUSALS = (
    (parsers.WORKER, "this node is a worker: create the token on a control-plane node"),
    (parsers.STOPPED, "MicroK8s is stopped on this node: start it (microk8s start) first"),
    ("requires a fresh MicroK8s installation", "this node's certificates predate clustering: reinstall MicroK8s"),
    ("Cilium is enabled", "Cilium is enabled on this node; MicroK8s up to 1.27 cannot cluster with it"),
    (parsers.NO_PERMISSION, "run the module as root (become: true)"),
)


def check_options(token, ttl):
    if len(token) < MIN_TOKEN_LENGTH or re.search(r"[/|\s]", token):
        raise Microk8sError(
            "token must be at least %d characters without '/', '|' or whitespace (it has %d characters)"
            % (MIN_TOKEN_LENGTH, len(token))
        )
    if ttl == 0 or ttl < -1:
        raise Microk8sError("ttl must be a number of seconds above 0, or -1 (single use, no expiry); got %s" % ttl)


def add_node(runner, token, ttl):
    """Register the token; return the join URLs add-node printed."""
    args = ["add-node", "--token", token] + ([] if ttl == -1 else ["--token-ttl", str(ttl)])
    if supports(runner.version(), (1, 24)):
        args += ["--format", "json"]
    result = runner.run(args, check=False)
    urls = parsers.parse_add_node(result.stdout)["urls"] if result.rc == 0 else []
    if not urls:
        text = "%s\n%s" % (result.stdout, result.stderr)
        advice = next((advice for marker, advice in REFUSALS if marker in text), "see its output")
        raise result.error("microk8s add-node failed: %s" % advice)
    return urls


def choose_url(urls, address):
    """The URL for address (default: the first one add-node printed)."""
    hosts = [parsers.parse_join_url(url)["host"] for url in urls]
    if address is None:
        return urls[0]
    if address not in hosts:
        raise Microk8sError(
            "address %s is not one add-node offers on this node; choose one of: %s" % (address, ", ".join(hosts))
        )
    return urls[hosts.index(address)]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            token=dict(type="str", no_log=True),
            ttl=dict(type="int", default=-1),
            address=dict(type="str"),
            timeout=dict(type="int", default=120),
        ),
        supports_check_mode=True,
    )

    def work(runner):
        token = module.params["token"] or secrets.token_hex(MIN_TOKEN_LENGTH // 2)
        runner.hide(token)
        ttl = module.params["ttl"]
        check_options(token, ttl)
        runner.version()  # fails early when MicroK8s is not installed
        result = dict(changed=True, ttl=ttl)
        if module.check_mode:
            return result
        urls = add_node(runner, token, ttl)
        join_url = choose_url(urls, module.params["address"])
        parts = parsers.parse_join_url(join_url)
        # The one place the token leaves the module: the success result, which the caller protects (no_log).
        module.no_log_values.discard(token)
        result.update(
            join_url=join_url,
            token=token,
            urls=urls,
            address=parts["host"],
            port=parts["port"],
            fingerprint=parts["fingerprint"],
        )
        return result

    run_module(module, work)


if __name__ == "__main__":
    main()
