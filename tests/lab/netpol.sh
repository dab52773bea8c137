#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# NetworkPolicy enforced between pods in the lab, as Calico does on MicroK8s (ha-cluster on, the default):
#   lab up --nodes 2 -> install the double on node1..2 and join -> enable ingress -> hello:local on both nodes
#   -> namespace app (hello x2, Service, Ingress hello.lab) and namespace other (hello x1)
#   -> other's pod reaches app's pod -> default-deny + allow-same-namespace + allow-from-ingress in app
#   -> other's pod times out, app's other pod and the ingress controller (curl from client1) still get through
#   -> the policies deleted -> other's pod reaches app's pod again. Times of both changes are printed (bound 5 s).
# Pods are reached from inside their network namespace on their node (`ip netns exec pod-<uid8> curl`).
# Usage: tests/lab/netpol.sh [--no-up]
# shellcheck disable=SC2317  # the helpers below are called through check/eventually, which shellcheck cannot see
set -euo pipefail
cd "$(dirname "$0")/../.."

NODES=(node1 node2)
CLIENT=client1
SETTLE=${SETTLE:-90}
BOUND=5
started=$SECONDS
failures=0
up=1
for arg in "$@"; do
    case $arg in
        --no-up) up=0 ;;
        *) echo "usage: $0 [--no-up]" >&2; exit 2 ;;
    esac
done

# shellcheck source=tests/lab/lib.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
kc() { mk node1 kubectl "$@"; }
give_up() { say "stopping: $*"; say "netpol done: $((failures + 1)) failure(s)"; exit 1; }
address_of() { lxc list "^$1\$" --format csv --columns 4 | awk '{print $1}'; }
all_ready() { [[ "$(kc get nodes --no-headers | awk '$2 == "Ready"' | wc -l)" == "$1" ]]; }
ready_in() { [[ "$(kc get pods -n "$1" --no-headers | awk '$2 == "1/1"' | wc -l)" == "$2" ]]; }
pod_field() { kc get pods -n "$1" -o "jsonpath={.items[$2].$3}"; }
from_pod() {  # from_pod NAMESPACE INDEX IP: GET http://IP:8080/ from inside that pod's network namespace
    local node uid
    node=$(pod_field "$1" "$2" spec.nodeName)
    uid=$(pod_field "$1" "$2" metadata.uid)
    on "$node" ip netns exec "pod-${uid:0:8}" curl -sS --max-time 2 "http://$3:8080/" | grep -q '^Hello World'
}
blocked() { ! from_pod "$@"; }
via_ingress() {  # via_ingress NODE: GET http://hello.lab/ through NODE's ingress controller from the client
    [[ "$(on "$CLIENT" curl -s --max-time 3 -o /dev/null -w '%{http_code}' -H 'Host: hello.lab' "http://$(address_of "$1")/")" == 200 ]]
}
within() {  # within SECONDS COMMAND...: retry every 0.2 s; print the time taken
    local bound=$1 start=$SECONDS
    shift
    local deadline=$((SECONDS + bound * 3))
    until "$@" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
    say "  after $((SECONDS - start)) s (bound $bound s)"
    ((SECONDS - start <= bound))
}

if ((up)); then python3 tests/lab/lab.py up --nodes 2; fi
for node in "${NODES[@]}" "$CLIENT"; do lxc start "$node" 2>/dev/null || true; done

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
url=$(mk node1 add-node | awk '/^microk8s join / {print $3; exit}')
check "node2 joins node1" mk node2 join "$url"
check "2 nodes Ready" eventually all_ready 2
((failures == 0)) || give_up "the cluster is not Ready"
check "microk8s enable ingress" mk node1 enable ingress

say "building hello:local offline"
archive=$(python3 tests/lab/images/build.py) || give_up "the image could not be built"
for node in "${NODES[@]}"; do
    lxc file push --quiet "$archive" "$node/root/hello.local.tar"
    check "$node: microk8s ctr image import" mk "$node" ctr image import /root/hello.local.tar
done

on node1 sh -c 'cat > /root/netpol-apps.yaml' <<'EOF'
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: Namespace, metadata: {name: app}}
  - {apiVersion: v1, kind: Namespace, metadata: {name: other}}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: hello, namespace: app}
    spec:
      replicas: 2
      selector: {matchLabels: {app: hello}}
      template:
        metadata: {labels: {app: hello}}
        spec:
          containers:
            - {name: hello, image: hello:local, ports: [{containerPort: 8080}]}
  - apiVersion: apps/v1
    kind: Deployment
    metadata: {name: hello, namespace: other}
    spec:
      replicas: 1
      selector: {matchLabels: {app: hello}}
      template:
        metadata: {labels: {app: hello}}
        spec:
          containers:
            - {name: hello, image: hello:local, ports: [{containerPort: 8080}]}
  - apiVersion: v1
    kind: Service
    metadata: {name: hello, namespace: app}
    spec:
      selector: {app: hello}
      ports: [{port: 8081, targetPort: 8080}]
  - apiVersion: networking.k8s.io/v1
    kind: Ingress
    metadata: {name: hello, namespace: app}
    spec:
      rules:
        - host: hello.lab
          http:
            paths:
              - {path: /, pathType: Prefix, backend: {service: {name: hello, port: {number: 8081}}}}
EOF
on node1 sh -c 'cat > /root/netpol-policies.yaml' <<'EOF'
apiVersion: v1
kind: List
items:
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: default-deny, namespace: app}
    spec: {podSelector: {}, policyTypes: [Ingress]}
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: allow-same-namespace, namespace: app}
    spec:
      podSelector: {}
      ingress: [{from: [{podSelector: {}}]}]
  - apiVersion: networking.k8s.io/v1
    kind: NetworkPolicy
    metadata: {name: allow-from-ingress, namespace: app}
    spec:
      podSelector: {}
      ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: ingress}}}]}]
EOF
check "apply the apps" kc apply -f /root/netpol-apps.yaml
check "2 pods ready in app" eventually ready_in app 2
check "1 pod ready in other" eventually ready_in other 1
kc get pods -A -o wide || true
target=$(pod_field app 0 status.podIP)
say "target: app's pod on $(pod_field app 0 spec.nodeName) at $target"
check "other's pod reaches app's pod (no policy)" eventually from_pod other 0 "$target"
check "through the ingress on node1 (no policy)" eventually via_ingress node1
check "through the ingress on node2 (no policy)" via_ingress node2

say "kubectl apply -f netpol-policies.yaml (default-deny, allow-same-namespace, allow-from-ingress)"
check "apply the policies" kc apply -f /root/netpol-policies.yaml
check "other's pod is dropped" within "$BOUND" blocked other 0 "$target"
check "app's other pod still reaches it" from_pod app 1 "$target"
check "app's pod reaches itself" from_pod app 0 "$target"
check "through the ingress on node1" via_ingress node1
check "through the ingress on node2" via_ingress node2
check "other's pod is still dropped" blocked other 0 "$target"
kc get networkpolicies -n app || true

say "kubectl delete networkpolicies --all -n app"
check "delete the policies" kc delete networkpolicies --all -n app
check "other's pod reaches app's pod again" within "$BOUND" from_pod other 0 "$target"

say "netpol done: $failures failure(s)"
exit $((failures > 0))
