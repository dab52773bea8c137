# SPDX-License-Identifier: GPL-3.0-or-later
"""The storage drill's record format, the writer's scan of its log, the report's verdict per repetition, and the
writer and collector themselves: a writer killed mid-run, its log damaged or cut, restarted as a moved pod is."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest
from storage_helpers import ROLES, load

writer = load("storage", "storage_writer")
report = load("storage_drill", "storage_drill_report")
WRITER = ROLES / "storage" / "files" / "storage_writer.py"
COLLECTOR = ROLES / "storage_drill" / "files" / "storage_collector.py"


def test_a_record_round_trips_and_its_checksum_covers_every_field():
    line = writer.record(7, "1795000000.125")
    records, bad, torn = writer.parse_log(line)
    assert records == {7: line.split()[-1].decode()} and bad == [] and torn == 0
    for damaged in (line.replace(b"7 ", b"8 ", 1), line.replace(b"125", b"126"), line.replace(b"xxxx", b"xxyx", 1)):
        assert writer.parse_log(damaged)[1] == [1]


def test_a_torn_last_line_is_not_bad_and_garbage_is():
    log = writer.record(1, "1.0") + writer.record(2, "2.0") + b"garbage\n" + writer.record(3, "3.0")[:20]
    records, bad, torn = writer.parse_log(log)
    assert sorted(records) == [1, 2] and bad == [3] and torn == 20


def _acks(lines):
    return "".join("%.3f %d %s\n" % line for line in lines)


def _digest(seq):
    return writer.record(seq, "1.0").split()[-1].decode()


def _log(cut=100.0, acked=(1, 2, 3), have=(1, 2, 3), node="node2", digests=None):
    digests = digests or {}
    lines = [(cut - 10, 1, "HELLO writer-a node1")]
    lines += [(cut - 5 + s / 100, 1, "ACK %d %s" % (s, _digest(s))) for s in acked]
    lines += [(cut + 20, 2, "HELLO writer-b %s" % node)]
    lines += [(cut + 20.1, 2, "HAVE %d %s" % (s, digests.get(s, _digest(s)))) for s in have]
    lines += [(cut + 20.2, 2, "SCANNED %d 0 0" % len(have)), (cut + 21, 2, "ACK 4 %s" % _digest(4))]
    return _acks(lines)


def _facts(ready_after=30.0, cut=100.0):
    rep = {"target": "node1", "node_name": "node1", "cut_at": str(cut), "off_at": cut + 1, "taint_at": cut + 1.5,
           "ready_at": cut + ready_after if ready_after is not None else None, "ready_timeout": 180}  # fmt: skip
    return {"started": "x", "ready_target_seconds": 90, "repetitions": [rep]}


def test_every_acked_record_present_and_ready_in_time_passes():
    result = report.report(_facts(), _log())
    rep = result["repetitions"][0]
    assert result["result"] == "PASS", rep["problems"]
    assert (rep["acked"], rep["lost"], rep["corrupt"], rep["new_node"]) == (3, 0, 0, "node2")
    assert rep["ready_after_seconds"] == 30.0


def test_a_lost_acknowledged_record_fails():
    rep = report.report(_facts(), _log(have=(1, 3)))["repetitions"][0]
    assert rep["verdict"] == "FAIL" and rep["lost"] == 1
    assert "1 acknowledged records lost (first [2])" in rep["problems"]


def test_a_corrupt_acknowledged_record_fails():
    rep = report.report(_facts(), _log(digests={3: "0" * 16}))["repetitions"][0]
    assert rep["verdict"] == "FAIL" and rep["corrupt"] == 1


def test_unacknowledged_records_may_be_missing():
    # record 4 was written after the scan; records the writer never reported are not counted
    assert report.report(_facts(), _log(acked=(1, 2), have=(1, 2, 3)))["result"] == "PASS"


def test_too_slow_or_never_ready_fails():
    assert "target <= 90" in report.report(_facts(ready_after=95.0), _log())["repetitions"][0]["problems"][0]
    rep = report.report(_facts(ready_after=None), _log())["repetitions"][0]
    assert rep["verdict"] == "FAIL" and "not Ready on another node" in rep["problems"][0]


def test_a_scan_from_the_cut_node_itself_does_not_count():
    rep = report.report(_facts(), _log(node="node1"))["repetitions"][0]
    assert rep["verdict"] == "FAIL" and "no scan of the volume from another node" in rep["problems"][0]


def test_the_text_report_names_the_verdict_and_the_default_timers():
    facts = dict(_facts(), default_timers={"total_seconds": 710, "node_monitor_grace_period": 50,
                                           "toleration_seconds": 300, "force_detach_seconds": 360})  # fmt: skip
    text = report.text(report.report(facts, _log()))
    assert "Storage drill x: PASS" in text and "about 710 s" in text and "node1" in text


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_writer_killed_and_restarted_loses_no_acknowledged_record(tmp_path):
    port, acks, log = _free_port(), tmp_path / "acks.log", tmp_path / "records.log"
    collector = subprocess.Popen(
        [
            sys.executable,
            str(COLLECTOR),
            "--port=%d" % port,
            "--out=%s" % acks,
            "--seconds=60",
            "--pidfile=%s" % (tmp_path / "pid"),
        ]
    )
    procs = [collector]
    try:
        assert _wait_for((tmp_path / "pid").exists)

        def start(node):
            argv = [sys.executable, str(WRITER), "--log", str(log), "--collector", "127.0.0.1:%d" % port]
            argv += ["--interval", "0.01", "--name", "w-" + node, "--node", node, "--port", str(_free_port())]
            procs.append(subprocess.Popen(argv))
            return procs[-1]

        first = start("node1")
        assert _wait_for(lambda: acks.exists() and acks.read_text().count(" ACK ") >= 30)
        first.send_signal(signal.SIGKILL)  # the power cut
        first.wait(5)
        cut = time.time()
        with open(log, "ab") as handle:  # a torn, never-acknowledged last write
            handle.write(b"999 12")
        time.sleep(0.1)
        start("node2")
        assert _wait_for(lambda: acks.read_text().count(" SCANNED ") >= 2)  # node1's empty scan, then node2's
        time.sleep(0.2)
        facts = {"started": "t", "repetitions": [{"target": "node1", "node_name": "node1", "cut_at": cut,
                                                  "ready_at": cut + 1}]}  # fmt: skip
        result = report.report(facts, acks.read_text())
        rep = result["repetitions"][0]
        assert result["result"] == "PASS", rep
        assert rep["acked"] >= 30 and rep["lost"] == 0 and rep["corrupt"] == 0 and rep["bad"] == 0
        assert not log.read_bytes().startswith(b"999") and b"999 12" not in log.read_bytes()  # torn tail cut

        # now damage an acknowledged record on the volume: the next scan must count it as corrupt
        procs[-1].send_signal(signal.SIGKILL)
        procs[-1].wait(5)
        data = bytearray(log.read_bytes())
        data[5] = ord("Z") if data[5] != ord("Z") else ord("Y")
        log.write_bytes(bytes(data))
        cut2 = time.time()
        time.sleep(0.05)
        start("node3")
        assert _wait_for(lambda: acks.read_text().count(" SCANNED ") >= 3)
        facts["repetitions"] = [{"target": "node2", "node_name": "node2", "cut_at": cut2, "ready_at": cut2 + 1}]
        rep = report.report(facts, acks.read_text())["repetitions"][0]
        assert rep["verdict"] == "FAIL" and rep["bad"] == 1 and rep["lost"] + rep["corrupt"] == 1
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)


def test_report_script_writes_json_and_text(tmp_path):
    (tmp_path / "facts.json").write_text(json.dumps(_facts()))
    (tmp_path / "acks.log").write_text(_log())
    out = tmp_path / "r"
    report.main(["--acks", str(tmp_path / "acks.log"), "--facts", str(tmp_path / "facts.json"), "--out", str(out)])
    assert json.loads((tmp_path / "r.json").read_text())["result"] == "PASS"
    assert "PASS" in (tmp_path / "r.txt").read_text()
    assert os.path.getsize(tmp_path / "r.txt") > 0


@pytest.mark.parametrize("bad_member", ["../escape", "/abs"])
def test_restore_refuses_archive_members_outside_the_volume(tmp_path, bad_member):
    import io
    import tarfile

    copy = load("storage_backup", "volume_copy")
    (tmp_path / "in").mkdir()
    with tarfile.open(tmp_path / "in" / "volume.tar", "w") as tar:
        info = tarfile.TarInfo(bad_member)
        info.size = 2
        tar.addfile(info, io.BytesIO(b"hi"))
    (tmp_path / "in" / "SHA256SUMS").write_text("")
    with pytest.raises(SystemExit, match="refusing archive member"):
        copy.restore(str(tmp_path / "in"), str(tmp_path / "out"))


def test_backup_then_restore_matches_and_a_changed_file_is_named(tmp_path):
    copy = load("storage_backup", "volume_copy")
    src, out, dst = tmp_path / "src", tmp_path / "out", tmp_path / "dst"
    (src / "sub").mkdir(parents=True)
    out.mkdir()
    (src / "records.log").write_bytes(writer.record(1, "1.0") + writer.record(2, "2.0"))
    (src / "sub" / "model.bin").write_bytes(os.urandom(3000))
    assert copy.backup(str(src), str(out))["files"] == 2
    result = copy.restore(str(out), str(dst))
    assert result == {"files": 2, "matched": 2, "mismatched": [], "missing": [], "extra": []}
    assert (dst / "sub" / "model.bin").read_bytes() == (src / "sub" / "model.bin").read_bytes()
    sums = copy.parse_manifest((out / "SHA256SUMS").read_text())
    sums["records.log"] = "0" * 64
    assert copy.compare(sums, copy.tree_sums(str(dst)))["mismatched"] == ["records.log"]
    del sums["records.log"]
    assert copy.compare(sums, copy.tree_sums(str(dst)))["extra"] == ["records.log"]
