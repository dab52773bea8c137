#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# The double's replicated storage against the lab (LXD containers node1..node3, profile 1.32 by default):
#   install the double, add-node/join (3 voters) -> mayastor addon (the lab's kernel has no HugePages and no module
#   support: both checks skipped with the addon's own flags) -> a writer Deployment appends numbered, checksummed,
#   fsync'd records to a mayastor-3 volume -> power cut of the writer's node (lxc stop --force) -> once NotReady and
#   STOPPED, the out-of-service taint -> the replacement Running on another node -> every record intact, none lost.
# Usage (under the lab lock, see tests/lab/README.md): tests/lab/mayastor_move.sh [--no-up] [PROFILE]
# Leaves the lab up; `python3 tests/lab/lab.py down` afterwards.
# shellcheck disable=SC2317,SC2034  # helpers are called through waitfor; `started` is read by lib.sh
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
started=$SECONDS  # read by lib.sh's say
# shellcheck source=tests/lab/lib.sh disable=SC1091
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODES=(node1 node2 node3)
NO_UP=""
if [[ "${1:-}" == "--no-up" ]]; then NO_UP=1; shift; fi
PROFILE=${1:-1.32}
COMMON=/var/snap/microk8s/common
ts() { date -u +%H:%M:%S; }
kc() { timeout 60 lxc exec "$1" -- /snap/bin/microk8s kubectl "${@:2}"; }
waitfor() {
    local what=$1 limit=$2 start=$SECONDS
    shift 2
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS - start > limit)); then echo "$(ts) TIMEOUT after ${limit}s waiting for $what"; return 1; fi
        sleep 2
    done
    echo "$(ts) $what after $((SECONDS - start))s"
}
writer_running_off() { kc "$1" get pods -l app=writer -o wide --no-headers | grep ' Running ' | grep -vq " $2 "; }
node_not_ready() { kc "$1" get node "$2" --no-headers | grep -q NotReady; }
all_ready() { [[ "$(kc node1 get nodes --no-headers | grep -c ' Ready ')" == "${#NODES[@]}" ]]; }

[[ -n "$NO_UP" ]] || .venv/bin/python tests/lab/lab.py up --nodes "${#NODES[@]}" --profile "$PROFILE" || exit 1
say "installing the double, /etc/hosts, hello:local on ${NODES[*]}"
for node in "${NODES[@]}"; do
    (
        on "$node" sh -c 'snap install --dangerous /root/lab-snaps/core*_*.snap >/dev/null'
        on "$node" sh -c 'snap install --dangerous --classic /root/lab-snaps/microk8s_*.snap >/dev/null'
        for peer in "${NODES[@]}"; do
            address=$(lxc list "^${peer}\$" --format csv --columns 4 | awk '{print $1}')
            on "$node" sh -c "printf '%s\\t%s\\n' $address $peer >> /etc/hosts"
        done
        lxc file push --quiet tests/lab/.build/images/hello.local.tar "$node/root/hello.local.tar"
        mk "$node" status --wait-ready --timeout 90 >/dev/null
        mk "$node" ctr image import /root/hello.local.tar >/dev/null
    ) &
done
wait
for node in "${NODES[@]:1}"; do mk "$node" join "$(mk node1 add-node | awk '/^microk8s join / {print $3; exit}')" | tail -1; done
waitfor "${#NODES[@]} nodes Ready" 120 all_ready || exit 1
mk node1 enable mayastor --skip-hugepages-check --skip-kernel-check | tail -1
kc node1 apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: journal}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: mayastor-3
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: writer}
data:
  writer.py: |
    import hashlib, os, sys, time
    path, n = "/data/log", 0
    if os.path.exists(path):
        for line in open(path):
            if line.split() != [str(n), hashlib.sha256(str(n).encode()).hexdigest()[:16]]:
                sys.exit(f"CORRUPT line {n}: {line!r}")
            n += 1
    log = open(path, "a")
    while True:
        log.write(f"{n} {hashlib.sha256(str(n).encode()).hexdigest()[:16]}\n")
        log.flush()
        os.fsync(log.fileno())
        n += 1
        time.sleep(0.1)
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: writer}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {app: writer}}
  template:
    metadata: {labels: {app: writer}}
    spec:
      containers:
      - name: writer
        image: hello:local
        imagePullPolicy: Never
        command: [python3, /code/writer.py]
        volumeMounts: [{name: data, mountPath: /data}, {name: code, mountPath: /code}]
      volumes:
      - {name: data, persistentVolumeClaim: {claimName: journal}}
      - {name: code, configMap: {name: writer}}
YAML
waitfor "writer Running" 120 bash -c "lxc exec node1 -- /snap/bin/microk8s kubectl get pods -l app=writer --no-headers | grep -q ' Running '" || exit 1
sleep 5
victim=$(kc node1 get pods -l app=writer -o jsonpath='{.items[0].spec.nodeName}')
handle=$(kc node1 get pv -o jsonpath='{.items[0].spec.csi.volumeHandle}')
kc node1 get pv,volumeattachments
survivor=$(for node in "${NODES[@]}"; do [[ "$node" != "$victim" ]] && echo "$node"; done | head -1)
say "power cut of $victim (the writer's node)"
lxc stop --force "$victim"
cut=$SECONDS
before=$(on "$survivor" sh -c "wc -l < $COMMON/mayastor/replicas/$handle/data/log")
echo "$(ts) records on $survivor's replica at the cut: $before"
waitfor "$victim NotReady" 300 node_not_ready "$survivor" "$victim" || exit 1
if [[ "$(lxc list "^${victim}\$" --format csv --columns s)" != STOPPED ]]; then echo "$victim is not off"; exit 1; fi
kc "$survivor" taint nodes "$victim" node.kubernetes.io/out-of-service=nodeshutdown:NoExecute
tainted=$SECONDS
waitfor "replacement Running off $victim" 180 writer_running_off "$survivor" "$victim" || exit 1
echo "$(ts) moved: $((SECONDS - cut))s after the cut, $((SECONDS - tainted))s after the taint"
sleep 3
moved=$(kc "$survivor" get pods -l app=writer --field-selector status.phase=Running -o jsonpath='{.items[0].spec.nodeName}')
on "$moved" python3 - "$before" <<'PY'
import glob, hashlib, sys
(mount,) = glob.glob("/var/snap/microk8s/common/var/lib/kubelet/pods/*/volumes/kubernetes.io~csi/*/mount")
lines = open(mount + "/log").read().splitlines()
bad = [i for i, line in enumerate(lines) if line.split() != [str(i), hashlib.sha256(str(i).encode()).hexdigest()[:16]]]
print(f"records {len(lines)}, on a surviving replica at the cut {sys.argv[1]}, bad {len(bad)}")
sys.exit(0 if not bad and len(lines) >= int(sys.argv[1]) else 1)
PY
