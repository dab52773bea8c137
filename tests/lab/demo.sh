#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The seed's proof of HA, scripted against the lab: the hello app with 3 replicas behind a MetalLB LoadBalancer,
# reached with curl from client1 (outside the cluster), and reached again after the node announcing the address
# is powered off.
#   lab up -> install the double on node1..4, join them (as smoke.sh) -> enable metallb with the lab's range
#   -> build hello:local offline (images/build.py) -> `microk8s ctr image import` on every node
#   -> `microk8s kubectl apply -f images/hello/hello.yaml` -> rollout, EXTERNAL-IP -> curl from client1
#   -> lxc stop --force <announcing node> -> curl again within 10 s -> replicas back to 3 -> node back
#   -> a ref no node has (hello:missing) stays in ErrImagePull/ImagePullBackOff, as on an air-gapped cluster.
# Usage: tests/lab/demo.sh [--no-up] [--no-install]
#   --no-up       use the running lab as it is (no `lab.py up`, which also refreshes the double's snaps on the nodes)
#   --no-install  keep the cluster already formed on node1..4 (no reinstall of the double, no joins)
# shellcheck disable=SC2317  # the helpers below are called through check/eventually, which shellcheck cannot see
set -euo pipefail
cd "$(dirname "$0")/../.."

NODES=(node1 node2 node3 node4)
CLIENT=client1
SETTLE=${SETTLE:-90}    # bound for every wait below, in seconds
FAILOVER_BOUND=10       # the LB address must answer again within this many seconds after the power cut
MANIFEST=tests/lab/images/hello/hello.yaml
RANGE=$(sed -n 's/^ha_join_metallb_range: *//p' inventories/lab/group_vars/all.yml)
started=$SECONDS
failures=0
up=1
install=1
for arg in "$@"; do
    case $arg in
        --no-up) up=0 ;;
        --no-install) install=0 ;;
        *) echo "usage: $0 [--no-up] [--no-install]" >&2; exit 2 ;;
    esac
done

# shellcheck source=tests/lab/lib.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kc() { mk "$kube_node" kubectl "$@"; }
give_up() { say "stopping: $*"; say "demo done: $((failures + 1)) failure(s)"; exit 1; }
address_of() { lxc list "^$1\$" --format csv --columns 4 | awk '{print $1}'; }
all_ready() { [[ "$(kc get nodes --no-headers | awk '$2 == "Ready"' | wc -l)" == "$1" ]]; }
lb_address() { kc get service hello -o 'jsonpath={.status.loadBalancer.ingress[0].ip}'; }
has_lb_address() { lb=$(lb_address) && [[ -n "$lb" ]]; }
curl_app() { on "$CLIENT" curl -sS --max-time "${2:-3}" "http://$1:8081/"; }
answers() { curl_app "$1" | grep -q '^Hello World'; }
announcer() {  # the live node that holds the address on its interface (MetalLB layer 2: exactly one)
    local node
    for node in "${NODES[@]}"; do
        [[ "$(lxc list "^$node\$" --format csv --columns s)" == RUNNING ]] || continue
        if on "$node" ip -o -4 addr show | grep -q " $1/"; then echo "$node"; fi
    done
}
pod_count() { [[ "$(kc get pods -l app=hello --no-headers | wc -l)" == "$1" ]]; }
node_status() { kc get nodes --no-headers | awk -v n="$1" '$1 == n {print $2}'; }
is_status() { [[ "$(node_status "$1")" == "$2" ]]; }
ready_pods_off() {  # ready_pods_off NODE COUNT: COUNT ready hello pods, none of them on NODE
    local ready
    ready=$(kc get pods -l app=hello -o 'jsonpath={range .items[*]}{.spec.nodeName} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
        awk -v dead="$1" '$2 == "True" && $1 != dead' | wc -l)
    [[ "$ready" == "$2" ]]
}
pod_waiting_reason() {  # pod_waiting_reason LABEL REASON...: every pod of app=LABEL waits for one of the reasons
    local reasons
    reasons=$(kc get pods -l "app=$1" -o 'jsonpath={range .items[*]}{.status.containerStatuses[0].state.waiting.reason}{"\n"}{end}')
    [[ -n "$reasons" ]] || return 1
    shift
    local reason
    while read -r reason; do
        [[ " $* " == *" $reason "* ]] || return 1
    done <<<"$reasons"
}

if ((up)); then python3 tests/lab/lab.py up --nodes 4; fi
for node in "${NODES[@]}" "$CLIENT"; do lxc start "$node" 2>/dev/null || true; done
kube_node=node1

if ((install)); then
    say "installing the double from /root/lab-snaps on ${NODES[*]}"
    for node in "${NODES[@]}"; do
        (
            on "$node" sh -c 'snap list microk8s >/dev/null 2>&1 && snap remove --purge microk8s >/dev/null; true'
            on "$node" sh -c 'snap install --dangerous /root/lab-snaps/core*_*.snap >/dev/null'
            on "$node" sh -c 'snap install --dangerous --classic /root/lab-snaps/microk8s_*.snap >/dev/null'
            mk "$node" status --wait-ready --timeout 60 >/dev/null
        ) &
    done
    wait
    for node in "${NODES[@]}"; do
        for peer in "${NODES[@]}"; do
            address=$(address_of "$peer")
            on "$node" sh -c "grep -q '[[:space:]]$peer\$' /etc/hosts || printf '%s\\t%s\\n' $address $peer >> /etc/hosts"
        done
    done
    for node in "${NODES[@]:1}"; do
        url=$(mk node1 add-node | awk '/^microk8s join / {print $3; exit}')
        check "$node joins node1" mk "$node" join "$url"
    done
    ((failures == 0)) || give_up "the cluster could not be formed"
fi
check "4 nodes Ready" eventually all_ready 4
((failures == 0)) || give_up "the cluster is not Ready"

say "microk8s enable metallb:$RANGE"
check "metallb enabled with the lab's range" mk node1 enable "metallb:$RANGE"

say "building hello:local offline"
archive=$(python3 tests/lab/images/build.py) || give_up "the image could not be built"
for node in "${NODES[@]}"; do
    lxc file push --quiet "$archive" "$node/root/hello.local.tar"
    check "$node: microk8s ctr image import hello.local.tar" mk "$node" ctr image import /root/hello.local.tar
done
mk node1 ctr images ls -q | grep hello || true

say "microk8s kubectl apply -f $MANIFEST"
lxc file push --quiet "$MANIFEST" node1/root/hello.yaml
check "kubectl apply" kc apply -f /root/hello.yaml
check "rollout: 3 replicas ready" kc rollout status deployment/hello --timeout="${SETTLE}s"
kc get pods -l app=hello -o wide || true
check "the LoadBalancer service has an external address" eventually has_lb_address
kc get service hello || true
[[ -n "${lb:-}" ]] || give_up "no external address for hello"
check "curl http://$lb:8081 from $CLIENT" eventually answers "$lb"
say "$CLIENT got: $(curl_app "$lb" || true)"

victim=$(announcer "$lb")
[[ $(wc -w <<<"$victim") == 1 ]] || give_up "expected exactly one node holding $lb, found: '${victim}'"
for node in "${NODES[@]}"; do [[ $node == "$victim" ]] || { kube_node=$node; break; }; done
say "power cut: lxc stop --force $victim (it announces $lb); kubectl from now on via $kube_node"
lxc stop --force "$victim"
cut=$SECONDS
until answers "$lb" 1 2>/dev/null || ((SECONDS - cut > 3 * FAILOVER_BOUND)); do sleep 0.2; done
failover=$((SECONDS - cut))
check "curl answers again ${failover}s after the cut (bound ${FAILOVER_BOUND}s)" test "$failover" -le "$FAILOVER_BOUND"
say "now announced by: $(announcer "$lb" | xargs)"
say "$CLIENT got: $(curl_app "$lb" || true)"
check "5 curls in a row answer" bash -c "for i in 1 2 3 4 5; do lxc exec $CLIENT -- curl -sS --max-time 3 http://$lb:8081/ >/dev/null || exit 1; done"
check "$victim NotReady" eventually is_status "$victim" NotReady
say "NotReady seen $((SECONDS - cut))s after the cut"
check "3 ready hello pods on live nodes (those of $victim replaced)" eventually ready_pods_off "$victim" 3
say "replaced $((SECONDS - cut))s after the cut"
kc get pods -l app=hello -o wide || true
check "curl answers after the replacement" answers "$lb"

say "$victim back: lxc start $victim"
lxc start "$victim"
check "4 nodes Ready again" eventually all_ready 4
check "no pod left on $victim from before the cut (3 hello pods in all)" eventually pod_count 3
kc get pods -l app=hello -o wide || true

say "a ref no node has: microk8s kubectl create deployment missing --image=hello:missing"
check "create deployment missing" kc create deployment missing --image=hello:missing
check "its pod waits in ErrImagePull/ImagePullBackOff" eventually pod_waiting_reason missing ErrImagePull ImagePullBackOff
kc get pods -l app=missing || true
kc delete deployment missing >/dev/null || true

say "demo done: $failures failure(s)"
exit $((failures > 0))
