#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The by-hand join flow of the seed, scripted against the lab (LXD containers node1..node4 only):
#   lab up -> install the double from /root/lab-snaps on every node -> add-node on node1, join node2..node4
#   -> status: 3 voters + 1 standby, 4 nodes Ready -> power cut of node1 (lxc stop --force)
#   -> a standby is promoted within the rebalance interval, node1 turns NotReady -> node1 back, Ready again.
# Usage: tests/lab/smoke.sh [--no-up]    (reinstalls microk8s on the nodes: the lab's cluster is rebuilt)
# shellcheck disable=SC2317  # the helpers below are called through check/eventually, which shellcheck cannot see
set -euo pipefail
cd "$(dirname "$0")/../.."

NODES=(node1 node2 node3 node4)
SETTLE=60   # bound for every wait below, in seconds
started=$SECONDS
failures=0

# shellcheck source=tests/lab/lib.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
voters() { mk "$1" status | sed -n 's/^ *datastore master nodes: *//p' | wc -w; }
standbys() { mk "$1" status | sed -n 's/^ *datastore standby nodes: *//p' | grep -v '^none$' | wc -w; }
ha_shape() { [[ "$(voters "$1")" == "$2" && "$(standbys "$1")" == "$3" ]]; }
node_status() { mk "$1" kubectl get nodes --no-headers | awk -v n="$2" '$1 == n {print $2}'; }
all_ready() { [[ "$(mk "$1" kubectl get nodes --no-headers | awk '$2 == "Ready"' | wc -l)" == "$2" ]]; }
is_status() { [[ "$(node_status "$1" "$2")" == "$3" ]]; }
voter_list() { mk "$1" status | sed -n 's/^ *datastore master nodes: *//p'; }

if [[ "${1:-}" != "--no-up" ]]; then
    python3 tests/lab/lab.py up --nodes 4
fi
for node in "${NODES[@]}"; do lxc start "$node" 2>/dev/null || true; done

say "installing the double from /root/lab-snaps on ${NODES[*]}"
for node in "${NODES[@]}"; do
    (
        on "$node" sh -c 'snap list microk8s >/dev/null 2>&1 && snap remove --purge microk8s >/dev/null; true'
        on "$node" sh -c 'snap install --dangerous /root/lab-snaps/core*_*.snap >/dev/null'
        on "$node" sh -c 'snap install --dangerous --classic /root/lab-snaps/microk8s_*.snap'
        mk "$node" status --wait-ready --timeout 60 >/dev/null
    ) &
done
wait
check "microk8s installed and running on every node" \
    eventually bash -c "for n in ${NODES[*]}; do lxc exec \$n -- /snap/bin/microk8s status | grep -q 'microk8s is running' || exit 1; done"

# By hand, as on the seed's PCs: every node must resolve every other node's name (the real join is refused
# otherwise). The lab's nodes only know themselves; the collection manages /etc/hosts when asked.
say "adding every node to /etc/hosts on every node"
for node in "${NODES[@]}"; do
    for peer in "${NODES[@]}"; do
        address=$(lxc list "^${peer}\$" --format csv --columns 4 | awk '{print $1}')
        on "$node" sh -c "grep -q '[[:space:]]$peer\$' /etc/hosts || printf '%s\\t%s\\n' $address $peer >> /etc/hosts"
    done
done

for node in "${NODES[@]:1}"; do
    url=$(mk node1 add-node | awk '/^microk8s join / {print $3; exit}')
    say "$node joins via ${url%%/*}/<token>"
    check "$node joins node1" mk "$node" join "$url"
done

if ((failures > 0)); then say "stopping: the cluster could not be formed"; exit 1; fi
check "status on node1: 3 voters + 1 standby" eventually ha_shape node1 3 1
mk node1 status | sed -n '1,4p'
check "4 nodes Ready" eventually all_ready node1 4
mk node1 kubectl get nodes -o wide

say "power cut: lxc stop --force node1 (a voter)"
lxc stop --force node1
cut=$SECONDS
check "standby promoted: 3 voters + 0 standby seen from node2" eventually ha_shape node2 3 0
say "promotion seen after $((SECONDS - cut))s; voters now: $(voter_list node2)"
check "node1 NotReady seen from node2" eventually is_status node2 node1 NotReady
say "NotReady seen after $((SECONDS - cut))s"
mk node2 kubectl get nodes

say "node1 back: lxc start node1"
lxc start node1
check "node1 Ready again" eventually is_status node2 node1 Ready
mk node2 status | sed -n '1,4p'

say "smoke done: $failures failure(s)"
exit $((failures > 0))
