# SPDX-License-Identifier: GPL-3.0-or-later
"""The no-op plans agree with what the modules they skip would do (blockinfile, lineinfile, microk8s_addon)."""

from __future__ import annotations

import pytest
from ansible.modules import blockinfile, lineinfile

from ansible_collections.onprem.microk8s.plugins.filter.plans import (
    addons_to_change,
    block_in_place,
    lineinfile_pending,
)
from ansible_collections.onprem.microk8s.tests.unit.plugins.modules.cli_harness import run as run_module

MARKER = "# {mark} onprem.microk8s cluster nodes"
BLOCK = "10.77.0.11 node1\n10.77.0.12 node2\n"
IN_PLACE = (
    "127.0.0.1 localhost\n# BEGIN onprem.microk8s cluster nodes\n" + BLOCK + "# END onprem.microk8s cluster nodes\n"
)


def _blockinfile_changes(tmp_path, content, block):
    path = tmp_path / "hosts"
    path.write_text(content)
    out = run_module(blockinfile.main, {"path": str(path), "block": block, "marker": MARKER}, [])
    return out.result["changed"]


@pytest.mark.parametrize(
    "content",
    [
        IN_PLACE,
        IN_PLACE.replace("10.77.0.12", "10.77.0.99"),
        "127.0.0.1 localhost\n",
        IN_PLACE + "# END onprem.microk8s cluster nodes\n",
        IN_PLACE.replace("\n# BEGIN", "\n# BEGIN onprem.microk8s cluster nodes\n# BEGIN", 1),
        IN_PLACE.rstrip("\n"),
        IN_PLACE + "172.16.1.5 printer\n",
    ],
    ids=["in-place", "other-address", "no-block", "two-ends", "two-begins", "no-final-newline", "lines-after"],
)
@pytest.mark.parametrize("block", [BLOCK, BLOCK.rstrip("\n")], ids=["newline", "no-newline"])
def test_block_in_place_agrees_with_blockinfile(tmp_path, content, block):
    """Never in place when blockinfile would change the file; in place whenever it would not, except for doubled
    marks, which the plan leaves to blockinfile (it reports them unchanged)."""
    changes = _blockinfile_changes(tmp_path, content, block)
    in_place = block_in_place(content, block, MARKER)
    assert not (in_place and changes)
    assert in_place == (not changes) or content.count("# BEGIN") == 2


def test_a_file_not_read_is_not_in_place():
    assert block_in_place(None, BLOCK, MARKER) is False


FLAG = {
    "file": "kubelet",
    "regexp": r"^\s*--node-status-update-frequency(=|\s|$)",
    "line": "--node-status-update-frequency=2s",
}


@pytest.mark.parametrize(
    ("content", "state"),
    [
        ("--a=1\n--node-status-update-frequency=2s\n", "present"),
        ("--a=1\n--node-status-update-frequency=10s\n", "present"),
        ("--a=1\n", "present"),
        ("--node-status-update-frequency=2s\n--node-status-update-frequency=2s\n", "present"),
        ("--a=1\n--node-status-update-frequency=2s", "present"),
        ("--a=1\n", "absent"),
        ("--a=1\n--node-status-update-frequency=2s\n", "absent"),
    ],
    ids=["same", "other-value", "missing", "twice", "no-final-newline", "absent-ok", "absent-present"],
)
def test_lineinfile_pending_agrees_with_lineinfile(tmp_path, content, state):
    path = tmp_path / "kubelet"
    path.write_text(content)
    args = {"path": str(path), "regexp": FLAG["regexp"], "state": state}
    if state == "present":
        args["line"] = FLAG["line"]
    changes = run_module(lineinfile.main, args, []).result["changed"]
    item = dict(FLAG, state=state)
    pending = lineinfile_pending([item], {"kubelet": content}) == [item]
    assert pending or not changes, "a line lineinfile would change must never be skipped"
    assert pending == changes or content.count("--node-status") == 2  # a doubled flag goes to lineinfile


def test_lineinfile_pending_keeps_items_of_files_not_read():
    assert lineinfile_pending([FLAG], {"kubelet": None}) == [FLAG]
    assert lineinfile_pending([FLAG], {}) == [FLAG]


def _status(*addons):
    return {"addons": [{"name": n, "repository": r, "status": s} for r, n, s in addons]}


def test_addons_in_their_state_need_nothing_from_1_24():
    status = _status(("core", "dns", "enabled"), ("core", "ingress", "enabled"), ("core", "metallb", "disabled"),
                     ("community", "openebs", "enabled"))  # fmt: skip
    assert addons_to_change(status, [{"name": "dns"}, {"name": "ingress"}, {"name": "community/openebs"}]) == []
    assert addons_to_change(status, [{"name": "metallb", "args": ["10.0.0.1-10.0.0.9"]}]) == ["metallb"]
    assert addons_to_change(status, [{"name": "dns", "state": "disabled"}]) == ["dns"]
    assert addons_to_change(status, [{"name": "metallb", "state": "disabled"}]) == []


def test_addons_without_repositories_1_20_to_1_23_and_unknown_ones():
    status = _status((None, "dns", "enabled"), (None, "openebs", "enabled"))
    assert addons_to_change(status, [{"name": "dns"}, {"name": "community/openebs"}]) == []
    assert addons_to_change(status, [{"name": "no-such-addon"}]) == ["no-such-addon"]
    assert addons_to_change(None, [{"name": "dns"}]) == ["dns"]
