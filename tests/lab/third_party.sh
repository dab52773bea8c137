#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-3.0-or-later
# Run a third-party MicroK8s Ansible role against the lab and check it formed a cluster. Fetches nothing: give the
# role's directory (a clone of e.g. https://github.com/istvano/ansible_role_microk8s, never committed here).
#
#   tests/lab/third_party.sh ROLE_DIR [REPORT_DIR]      (a lab must be up: tests/lab/lab.py up --nodes 3 --profile 1.32)
#
# 1. the double's snap is installed offline on every node as site.yml's install step does (preinstall.yml);
# 2. the role runs with its own inventory vocabulary (third_party/inventory.yml), first as a user would give it the
#    lab's channel (microk8s_version), then, when that run failed, again with THIRD_PARTY_SECOND_RUN_VARS (JSON extra
#    vars, default {"microk8s_version": ""}: the role's snap task then leaves the installed snap alone);
# 3. verify.yml: every node Ready, high availability on; 4. one more run of the role: its changed count (idempotence).
# ANSIBLE_ALLOW_BROKEN_CONDITIONALS defaults to true (roles older than ansible-core 2.19; set it to false to see).
# Logs: REPORT_DIR (default reports/third-party/<role>/), summary.txt there.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
role_dir="$(cd "${1:?usage: $0 ROLE_DIR [REPORT_DIR]}" && pwd)" || exit 2
role="$(basename "$role_dir")"
out="${2:-$repo/reports/third-party/$role}"
second_vars="${THIRD_PARTY_SECOND_RUN_VARS:-{\"microk8s_version\": \"\"\}}"
[ -f "$role_dir/tasks/main.yml" ] || { echo "$role_dir: no tasks/main.yml, not an Ansible role" >&2; exit 2; }
[ -f "$repo/inventories/lab/hosts.yml" ] || { echo "no lab: run tests/lab/lab.py up first" >&2; exit 2; }
mkdir -p "$out"
cd "$repo" || exit 2
playbook="$repo/.venv/bin/ansible-playbook"
inventory=(-i inventories/lab -i tests/lab/third_party/inventory.yml)
ANSIBLE_ROLES_PATH="$(dirname "$role_dir")"
# Roles written for ansible-core < 2.19 use conditionals that are not booleans (istvano.microk8s: `when: uname.stdout
# | regex_search('raspi')`), which 2.19 refuses: the controller's compatibility switch, not a change to the role.
ANSIBLE_ALLOW_BROKEN_CONDITIONALS="${ANSIBLE_ALLOW_BROKEN_CONDITIONALS:-true}"
export ANSIBLE_ROLES_PATH ANSIBLE_ALLOW_BROKEN_CONDITIONALS ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_FORCE_COLOR=0
summary="$out/summary.txt"
: > "$summary"
step() {  # step NAME ARGS...: run ansible-playbook, log to NAME.log, record rc and the recap
    local name=$1 start rc
    shift
    start=$(date +%s)
    "$playbook" "${inventory[@]}" "$@" > "$out/$name.log" 2>&1
    rc=$?
    {
        echo "== $name: rc=$rc in $(($(date +%s) - start)) s"
        grep -E '^\S+\s+: ok=' "$out/$name.log" | sed 's/^/   /'
        # each failure: the task it happened in, then the host's message (cut)
        awk '/^TASK \[/ {task = $0} /^fatal: / {print "   " task; print "   | " substr($0, 1, 400)}' "$out/$name.log"
    } >> "$summary"
    return $rc
}
step preinstall tests/lab/third_party/preinstall.yml || { cat "$summary"; exit 1; }
if step role-run1 tests/lab/third_party/play.yml -e third_party_role="$role"; then
    used=()
else
    used=(-e "$second_vars")
    echo "   second run with extra vars $second_vars" >> "$summary"
    step role-run2 tests/lab/third_party/play.yml -e third_party_role="$role" "${used[@]}"
fi
step verify tests/lab/third_party/verify.yml
rc=$?
step role-rerun tests/lab/third_party/play.yml -e third_party_role="$role" "${used[@]}"
cat "$summary"
exit $rc
