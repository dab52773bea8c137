# shellcheck shell=bash disable=SC2154  # `started` and SETTLE come from the caller
# SPDX-License-Identifier: GPL-3.0-or-later
# Helpers shared by smoke.sh and demo.sh. The caller sets `started=$SECONDS`, `failures=0` and SETTLE first.

say() { printf '[%5ss] %s\n' "$((SECONDS - started))" "$*"; }
on() { local node=$1; shift; timeout 120 lxc exec "$node" -- "$@"; }
mk() { local node=$1; shift; on "$node" /snap/bin/microk8s "$@"; }
check() {  # check DESCRIPTION COMMAND...: report, count failures, never stop the script
    local what=$1; shift
    local rc=0
    "$@" || rc=$?
    if ((rc == 0)); then say "PASS $what"; else say "FAIL $what (rc=$rc)"; failures=$((failures + 1)); fi
}
eventually() {  # eventually COMMAND...: retry for up to SETTLE seconds
    local deadline=$((SECONDS + SETTLE))
    until "$@" 2>/dev/null; do
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}
