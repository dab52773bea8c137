# SPDX-License-Identifier: GPL-3.0-or-later
"""The failover drill's report: outage arithmetic, the events from the watch, PASS/FAIL per target, the text report
and the timeline picture, from made-up timelines whose answers are known."""

from __future__ import annotations

import json

import jinja2
import pytest
from failover_drill_helpers import TEMPLATES, load

report_mod = load("drill_report")

CUT = 1000.0  # the power cut, epoch seconds


def _requests(fail_between=(), every=0.5, start=-5.0, end=60.0, body="Hello from hello-1", slow=()):
    """Samples every `every` s from CUT+start to CUT+end; failed inside any (from, to) of `fail_between`, answered
    in 1.2 s inside any of `slow`, else in 0.05 s."""
    samples, t = [], start
    while t <= end + 1e-9:
        failed = any(a <= t < b for a, b in fail_between)
        took = 1.5 if failed else 1.2 if any(a <= t < b for a, b in slow) else 0.05
        samples.append([round(CUT + t, 3), not failed, "timeout" if failed else "200", "" if failed else body, took])
        t += every
    return samples


# --- outages ---------------------------------------------------------------------------------------------------


def test_no_failure_means_no_outage():
    assert report_mod.outages([(0.0, True), (0.2, True), (0.4, True)]) == []


def test_outage_runs_from_last_success_to_next_success():
    samples = [(0.0, True), (0.2, False), (0.4, False), (0.6, True), (0.8, False), (1.0, True)]
    found = report_mod.outages(samples)
    assert [o["seconds"] for o in found] == [0.6, 0.4]
    assert found[0]["start"] == 0.0 and found[0]["end"] == 0.6


def test_outage_still_going_at_the_end_is_marked():
    found = report_mod.outages([(0.0, True), (1.0, False), (2.0, False)])
    assert found == [{"start": 0.0, "end": 2.0, "seconds": 2.0, "ongoing": True}]


def test_never_answering_counts_from_the_first_attempt():
    assert report_mod.outages([(5.0, False), (6.0, False)])[0]["seconds"] == 1.0


# --- what a simple client saw ------------------------------------------------------------------------------------


def test_intermittent_failures_make_one_failure_window_from_first_to_last():
    # a random endpoint per request: failures come and go from +2 s to +14 s, successes in between
    samples = _requests(fail_between=[(2.0, 3.0), (5.0, 5.5), (9.0, 10.0), (13.5, 14.0)])
    summary = report_mod.request_summary(samples, CUT)
    assert summary["failed"] == 2 + 1 + 2 + 1
    assert summary["attempts"] == len(samples)
    assert summary["failed_share"] == round(6 / len(samples), 4)
    assert summary["longest_outage_seconds"] == 1.5  # 8.5 (last ok) to 10.0 (first ok)
    # the window runs from the last success before the first failure to the first success after the last one
    assert summary["failure_window"] == {"start": 1.5, "end": 14.0, "seconds": 12.5}
    assert summary["recovered_after_seconds"] == 14.0
    assert summary["answers"] == {"Hello from hello-1": len(samples) - 6}
    assert summary["errors"] == {"timeout": 6}
    assert summary["slowest_answer_seconds"] == 0.05


def test_slow_answers_are_reported_even_when_none_failed():
    summary = report_mod.request_summary(_requests(slow=[(0.0, 10.0)]), CUT)
    assert summary["failed"] == 0 and summary["failure_window"] is None
    assert summary["slowest_answer_seconds"] == 1.2
    assert summary["median_answer_seconds"] == 0.05


def test_failures_before_the_cut_count_in_the_share_but_not_in_the_window():
    summary = report_mod.request_summary(_requests(fail_between=[(-4.0, -3.0)]), CUT)
    assert summary["failed"] == 2
    assert summary["failure_window"] is None
    assert summary["recovered_after_seconds"] == 0.0


def test_a_client_still_failing_at_the_end_never_recovered():
    summary = report_mod.request_summary(_requests(fail_between=[(3.0, 99.0)]), CUT)
    assert summary["failure_window"]["ongoing"] is True
    assert summary["recovered_after_seconds"] is None


# --- the watch: NotReady and pods elsewhere ----------------------------------------------------------------------


def _pod(name, node, ready=True, owner="ReplicaSet/hello-abc", deleting=False):
    return ["default", name, node, ready, owner, deleting]


def _watch():
    before = [_pod("hello-1", "node1"), _pod("hello-2", "node2"), _pod("hello-3", "node3"),
              _pod("speaker-1", "node1", owner="DaemonSet/speaker")]  # fmt: skip
    samples = [[CUT - 2, "True", before], [CUT - 1, "True", before]]
    for t in range(0, 70, 1):
        ready = "True" if t < 15 else "Unknown"
        pods = [_pod("hello-1", "node1", ready=t < 15, deleting=t >= 45), _pod("hello-2", "node2"),
                _pod("hello-3", "node3"),
                _pod("speaker-1", "node1", ready=t < 15, owner="DaemonSet/speaker")]  # fmt: skip
        if t >= 45:
            pods.append(_pod("hello-4", "node2", ready=t >= 48))
        samples.append([CUT + t, ready if t != 20 else None, pods if t != 20 else None])
    return {"kind": "watch", "node": "node1", "samples": samples}


def test_not_ready_and_replacement_moments():
    summary = report_mod.watch_summary(_watch(), CUT)
    assert summary["not_ready_after_seconds"] == 15
    # the DaemonSet's pod does not move; the ReplicaSet had 3 Ready pods, 3 Ready elsewhere again at +48
    assert summary["moving_owners"] == {"ReplicaSet/hello-abc": 3}
    assert summary["pods_ready_elsewhere_after_seconds"] == 48
    assert summary["api_unanswered_reads"] == 1
    assert [2, 2] in summary["ready_elsewhere_series"] and [48, 3] in summary["ready_elsewhere_series"]


def test_a_terminating_pod_elsewhere_does_not_count():
    pods = [_pod("a", "node2", deleting=True), _pod("b", "node3")]
    assert report_mod.ready_elsewhere(pods, "node1", {"ReplicaSet/hello-abc": 2}) == {"ReplicaSet/hello-abc": 1}


def test_no_pods_on_the_dead_node_means_nothing_to_replace():
    watch = {"node": "node4", "samples": [[CUT - 1, "True", [_pod("hello-1", "node1")]], [CUT + 1, "Unknown", []]]}
    summary = report_mod.watch_summary(watch, CUT)
    assert summary["moving_owners"] == {} and summary["pods_ready_elsewhere_after_seconds"] is None


def _two_owners(dns_back=None, dns_seconds=300):
    """hello (3 replicas, one on node1, tolerating 20 s) replaced at +48; the LAN DNS server (2 replicas, one on node1,
    tolerating `dns_seconds`) replaced at +`dns_back` (None: not within the 70 s watched)."""
    dns = "ReplicaSet/onprem-names-dns-5d8"

    def pods(t):
        found = [
            [*_pod("hello-1", "node1", ready=t < 15, deleting=t >= 45), 20],
            [*_pod("hello-2", "node2"), 20],
            [*_pod("hello-3", "node3"), 20],
            ["onprem-names", "dns-1", "node1", t < 15, dns, dns_back is not None and t >= dns_back - 3, dns_seconds],
            ["onprem-names", "dns-2", "node2", True, dns, False, dns_seconds],
        ]
        if t >= 45:
            found.append([*_pod("hello-4", "node2", ready=t >= 48), 20])
        if dns_back is not None and t >= dns_back - 3:
            found.append(["onprem-names", "dns-3", "node3", t >= dns_back, dns, False, dns_seconds])
        return found

    samples = [[CUT - 1, "True", pods(-1)]] + [[CUT + t, "True" if t < 15 else "Unknown", pods(t)] for t in range(70)]
    return {"kind": "watch", "node": "node1", "samples": samples}


def test_each_owner_gets_its_own_time_and_the_toleration_its_dead_pods_had():
    summary = report_mod.watch_summary(_two_owners(), CUT)
    assert summary["moving_owners"] == {"ReplicaSet/hello-abc": 3, "ReplicaSet/onprem-names-dns-5d8": 2}
    assert summary["pods_ready_elsewhere_after_seconds"] is None  # the DNS server never came back: not all moved
    assert summary["owners"] == {
        "ReplicaSet/hello-abc": {"namespace": "default", "ready_before": 3, "on_dead_node": 1,
                                 "unreachable_toleration_seconds": [20], "pinning_claims": [],
                                 "ready_elsewhere_after_seconds": 48},
        "ReplicaSet/onprem-names-dns-5d8": {"namespace": "onprem-names", "ready_before": 2, "on_dead_node": 1,
                                            "unreachable_toleration_seconds": [300], "pinning_claims": [],
                                            "ready_elsewhere_after_seconds": None},
    }  # fmt: skip


def test_the_whole_figure_waits_for_the_slowest_owner():
    summary = report_mod.watch_summary(_two_owners(dns_back=55, dns_seconds=20), CUT)
    assert summary["pods_ready_elsewhere_after_seconds"] == 55
    assert summary["owners"]["ReplicaSet/hello-abc"]["ready_elsewhere_after_seconds"] == 48
    assert summary["owners"]["ReplicaSet/onprem-names-dns-5d8"]["ready_elsewhere_after_seconds"] == 55


def test_a_missed_pods_target_names_the_late_owner_and_its_toleration():
    report, _api, _app = _build(watch=_two_owners())
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert line["verdict"] == "FAIL"
    assert line["late"] == [{"owner": "ReplicaSet/onprem-names-dns-5d8", "namespace": "onprem-names", "after": None,
                             "unreachable_toleration_seconds": [300]}]  # fmt: skip
    text = _render(dict(report, figure=None))
    assert (
        "FAIL        replacement pods Ready on other nodes after the power cut: not within the drill (target <= 60 s);"
        " late: onprem-names ReplicaSet/onprem-names-dns-5d8 (not seen, tolerates the dead node 300 s)"
    ) in text
    assert (
        "    default ReplicaSet/hello-abc: 3 Ready before, 1 on the dead node, tolerating it 20 s;"
        " all Ready elsewhere after 48.0 s"
    ) in text
    assert (
        "    onprem-names ReplicaSet/onprem-names-dns-5d8: 2 Ready before, 1 on the dead node, tolerating it 300 s;"
        in (text)
    )


def test_an_owner_seen_after_the_limit_is_late_and_one_within_it_is_not():
    report, _api, _app = _build(watch=_two_owners(dns_back=65, dns_seconds=20))
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert (line["verdict"], line["measured"]) == ("FAIL", 65)
    assert [(late["owner"], late["after"]) for late in line["late"]] == [("ReplicaSet/onprem-names-dns-5d8", 65)]


def test_a_met_pods_target_names_no_culprit():
    report, _api, _app = _build(watch=_two_owners(dns_back=55, dns_seconds=20))
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert line["verdict"] == "PASS" and "late" not in line
    assert "late:" not in _render(dict(report, figure=None))


def _with_writer(writer_back=None):
    """_two_owners (DNS back at +55) and a storage writer on the dead node mounting a ReadWriteOnce claim (the
    probe's 8th field), its replacement Ready at +`writer_back` (None: not within the watch)."""
    watch = _two_owners(dns_back=55, dns_seconds=20)
    writer = "ReplicaSet/writer-7db"
    for moment, _ready, pods in watch["samples"]:
        t = moment - CUT
        pods.append(["storage-demo", "writer-1", "node1", t < 15, writer, False, 20, ["storage-demo/data"]])
        if writer_back is not None and t >= writer_back:
            pods.append(["storage-demo", "writer-2", "node2", True, writer, False, 20, ["storage-demo/data"]])
    return watch


def test_a_pod_held_by_a_single_node_volume_is_reported_but_not_judged():
    report, _api, _app = _build(watch=_with_writer())
    owners = report["events"]["owners"]
    assert owners["ReplicaSet/writer-7db"]["pinning_claims"] == ["storage-demo/data"]
    assert owners["ReplicaSet/hello-abc"]["pinning_claims"] == []
    assert report["events"]["pods_ready_elsewhere_after_seconds"] == 55  # hello and the DNS server, not the writer
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert (line["verdict"], line["measured"]) == ("PASS", 55) and "late" not in line
    assert line["pinned"] == [{"owner": "ReplicaSet/writer-7db", "namespace": "storage-demo",
                               "claims": ["storage-demo/data"], "after": None}]  # fmt: skip
    text = _render(dict(report, figure=None))
    assert (
        "PASS        replacement pods Ready on other nodes after the power cut: 55.0 s (target <= 60 s); not judged:"
        " storage-demo ReplicaSet/writer-7db (mounts storage-demo/data; not seen): its replacement starts only once"
        " the dead node's volume attachment is released"
    ) in text
    assert (
        "1 on the dead node, tolerating it 20 s; all Ready elsewhere after not seen; mounts single-node claim(s)"
        " storage-demo/data, not judged" in text
    )


def test_a_late_pod_of_an_unpinned_owner_still_fails_beside_a_pinned_one():
    watch = _with_writer(writer_back=30)
    for _moment, _ready, pods in watch["samples"]:
        for pod in pods:
            if pod[1] == "dns-3":
                pod[3] = False  # the DNS server never Ready elsewhere
    report, _api, _app = _build(watch=watch)
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert line["verdict"] == "FAIL"
    assert [late["owner"] for late in line["late"]] == ["ReplicaSet/onprem-names-dns-5d8"]
    assert [(p["owner"], p["after"]) for p in line["pinned"]] == [("ReplicaSet/writer-7db", 30)]


def test_when_every_moving_pod_is_held_by_a_volume_the_pods_target_is_not_measured():
    samples = [
        [CUT + t, "True" if t < 15 else "Unknown",
         [["storage-demo", "writer-1", "node1", t < 15, "ReplicaSet/writer-7db", False, 20, ["storage-demo/data"]]]]
        for t in range(-1, 70)
    ]  # fmt: skip
    report, _api, _app = _build(watch={"kind": "watch", "node": "node1", "samples": samples})
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert line["verdict"] == "SKIPPED"
    assert line["reason"].startswith("every pod of node1 that moves mounts a single-node volume (storage-demo/data)")


# --- verdicts ------------------------------------------------------------------------------------------------------


def _facts(profile="tuned", promoted=8.0, back=30.0, voters_full=True, expected=True):
    return {
        "target": "node1", "node_name": "node1", "target_reasons": ["datastore voter", "1 app pod"],
        "power_method": "lxd", "profile": profile, "client": "client1",
        "started": "20261130-150000", "api_through": "virtual IP 10.77.0.100", "power_cut_at": CUT,
        "promotion_expected": expected, "promoted_after_seconds": promoted, "node_back_after_seconds": back,
        "voters_before": ["10.77.0.11:19001", "10.77.0.12:19001", "10.77.0.13:19001"],
        "voters_during": ["10.77.0.12:19001", "10.77.0.13:19001", "10.77.0.14:19001"],
        "voters_after": ["10.77.0.12:19001", "10.77.0.13:19001", "10.77.0.14:19001"],
        "voters_full_after": voters_full, "high_availability_after": voters_full,
    }  # fmt: skip


def _build(profile="tuned", app_fail=(2.0, 14.0), api_fail=(0.0, 3.0), watch=None, **facts):
    app = {"url": "http://10.77.0.240:8081/", "samples": _requests(fail_between=[app_fail])}
    api = {"url": "https://10.77.0.100:16443/version", "samples": _requests(fail_between=[api_fail])}
    return report_mod.build(_facts(profile, **facts), api, watch or _watch(), app), api, app


def _verdicts(report):
    return {t["target"]: t["verdict"] for t in report["targets"]}


def test_tuned_profile_within_every_target_passes():
    report, _api, _app = _build()
    assert _verdicts(report) == {"app_failure_window": "PASS", "api_downtime": "PASS", "pods_ready_elsewhere": "PASS"}
    assert report["result"] == "PASS"
    measured = {t["target"]: t["measured"] for t in report["targets"]}
    assert measured == {"app_failure_window": 12.5, "api_downtime": 3.5, "pods_ready_elsewhere": 48}


@pytest.mark.parametrize(
    ("change", "missed"),
    [
        ({"app_fail": (2.0, 24.0)}, "app_failure_window"),  # 22.5 s > 20 s
        ({"api_fail": (0.0, 6.0)}, "api_downtime"),  # 6.5 s > 5 s
        ({"api_fail": (0.0, 99.0)}, "api_downtime"),  # never back: the first node is the dead one
    ],
)
def test_tuned_profile_missing_a_target_fails(change, missed):
    report, _api, _app = _build(**change)
    assert [k for k, v in _verdicts(report).items() if v == "FAIL"] == [missed]
    assert report["result"] == "FAIL"


def test_pods_not_replaced_within_the_watch_fail_the_tuned_target():
    watch = _watch()
    watch["samples"] = [s for s in watch["samples"] if s[0] < CUT + 45]  # watched 44 s, no replacement yet
    report, _api, _app = _build(watch=watch)
    assert _verdicts(report)["pods_ready_elsewhere"] == "FAIL"


def test_default_profile_targets_are_informational():
    report, _api, _app = _build(profile="default", app_fail=(2.0, 45.0))
    assert _verdicts(report) == {
        "app_failure_window": "INFO-missed",
        "api_downtime": "INFO-met",
        "pods_ready_elsewhere": "INFO-met",
    }
    assert report["result"] == "PASS"


@pytest.mark.parametrize(
    ("facts", "check"),
    [
        ({"promoted": None}, "a standby was promoted"),
        ({"back": None}, "node back and Ready"),
        ({"voters_full": False}, "full voters after the node came back"),
    ],
)
def test_structural_checks_fail_whatever_the_profile(facts, check):
    report, _api, _app = _build(profile="default", **facts)
    assert [c["check"] for c in report["checks"] if not c["ok"]] == [check]
    assert report["result"] == "FAIL"


def test_no_promotion_is_asked_for_when_no_standby_could_take_the_place():
    report, _api, _app = _build(promoted=None, expected=False)
    assert "a standby was promoted" not in [c["check"] for c in report["checks"]]


# --- text and picture ----------------------------------------------------------------------------------------------


def _render(report):
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)), trim_blocks=True, undefined=jinja2.StrictUndefined
    )
    return env.get_template("report.txt.j2").render(failover_drill_report=report)


def test_text_report_has_a_verdict_line_per_target():
    report, _api, _app = _build(api_fail=(0.0, 99.0))
    report["figure"] = "reports/failover-x.png"
    text = _render(report)
    assert text.splitlines()[0].endswith("profile tuned: FAIL")
    assert text.splitlines()[1] == "Target: datastore voter, 1 app pod"
    assert "PASS        failed-request window of the app: 12.5 s (target <= 20 s)" in text
    assert (
        "FAIL        Kubernetes API downtime through the cluster address: not within the drill (target <= 5 s)" in text
    )
    assert "PASS        replacement pods Ready on other nodes after the power cut: 48.0 s (target <= 60 s)" in text
    assert "still failing when the probe ended" in text
    assert "dead node NotReady after: 15.0 s" in text
    assert "voters during: 10.77.0.12:19001 10.77.0.13:19001 10.77.0.14:19001" in text
    assert "Timeline: reports/failover-x.png" in text


def test_text_report_without_an_app():
    report = report_mod.build(_facts(), {"url": "https://x/version", "samples": _requests()}, _watch(), None)
    report["figure"] = None
    text = _render(report)
    assert "not probed" in text
    assert "SKIPPED     failed-request window of the app: not measured" in text


def test_timeline_picture_is_a_png_with_the_events_marked(tmp_path):
    report, api, app = _build()
    path = tmp_path / "timeline.png"
    marks = dict((name, moment) for name, moment, _colour in report_mod.figure(report, api, _watch(), app, str(path)))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10000
    assert marks == {
        "power cut": 0.0,
        "NotReady": 15,
        "promotion": 8.0,
        "app recovered": 14.0,
        "API recovered": 3.0,
        "pods Ready elsewhere": 48,
    }


def test_nothing_failed_means_no_recovery_mark(tmp_path):
    app = {"url": "http://10.77.0.240:8081/", "samples": _requests()}
    api = {"url": "https://10.77.0.11:16443/version", "samples": _requests(fail_between=[(0.0, 99.0)])}
    report = report_mod.build(_facts(profile="default"), api, _watch(), app)
    marks = {name: at for name, at, _colour in report_mod.figure(report, api, _watch(), app, str(tmp_path / "t.png"))}
    assert marks["app recovered"] is None  # no failure after the cut: nothing recovered
    assert marks["API recovered"] is None  # still down when the probe ended


def test_main_writes_the_json_and_the_png(tmp_path):
    _report, api, app = _build()
    files = {"facts": _facts(), "api": api, "app": app, "watch": _watch()}
    for name, data in files.items():
        (tmp_path / (name + ".json")).write_text(json.dumps(data))
    args = ["--%s=%s" % (name, tmp_path / (name + ".json")) for name in files]
    assert report_mod.main([*args, "--out", str(tmp_path / "r.json"), "--png", str(tmp_path / "r.png")]) == 0
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["result"] == "PASS" and written["figure"] == str(tmp_path / "r.png")
    assert (tmp_path / "r.png").read_bytes()[:4] == b"\x89PNG"


# --- the HTTPS series beside plain HTTP (tls_ingress) --------------------------------------------------------------


def _series(fail_between=(), every=0.25, interval=True, url="http://10.77.0.240:8081/"):
    series = {"url": url, "samples": _requests(fail_between=fail_between, every=every)}
    if interval:
        series["interval"] = every
    return series


def _https(fail_between=(), **kwargs):
    series = _series(fail_between, url="https://hello.home.arpa/", **kwargs)
    series["connect_to"] = "10.77.0.250"
    return series


def test_https_failures_inside_the_http_window_pass():
    # HTTP fails 2.0-13.75 (window 1.75 to 14.0); HTTPS fails inside it
    versus = report_mod.https_inside_http(_series([(2.0, 14.0)]), _https([(3.0, 9.0)]), CUT)
    assert versus["ok"] is True and versus["outside"] == 0 and versus["https_failures"] == 24
    assert versus["window"] == {"start": 0.0, "end": 14.25} and versus["margin_seconds"] == 0.25


def test_the_http_window_is_widened_by_exactly_one_probe_interval():
    http = _series([(2.0, 14.0)])  # window 1.75 .. 14.0, widened: 1.5 .. 14.25
    within = report_mod.https_inside_http(http, _https([(14.0, 14.5)]), CUT)  # fails at 14.0, 14.25
    beyond = report_mod.https_inside_http(http, _https([(14.0, 14.75)]), CUT)  # and at 14.5
    assert within["ok"] is True
    assert beyond["ok"] is False and beyond["outside_at"] == [14.5]


def test_an_https_probe_may_meet_the_dead_pod_before_an_http_one_does():
    # Each new connection picks an endpoint at random: HTTPS failing at 0.5 s while HTTP first fails at 2.0 s is the
    # same cut, not an HTTPS fault; the window opens at the cut at the latest, and a failure before it is outside.
    http = _series([(2.0, 14.0)])
    early = report_mod.https_inside_http(http, _https([(0.5, 1.0)]), CUT)
    before = report_mod.https_inside_http(http, _https([(-0.5, 0.0)]), CUT)
    assert early["ok"] is True and early["window"]["start"] == 0.0
    assert before["ok"] is False and before["outside_at"] == [-0.5, -0.25]


def test_https_failing_while_http_never_did_is_outside():
    versus = report_mod.https_inside_http(_series(), _https([(20.0, 21.0)]), CUT)
    assert versus["window"] is None and versus["ok"] is False
    assert versus["outside_at"] == [20.0, 20.25, 20.5, 20.75]


def test_https_failures_before_the_cut_are_outside():
    versus = report_mod.https_inside_http(_series([(2.0, 14.0)]), _https([(-3.0, -2.5), (5.0, 6.0)]), CUT)
    assert versus["outside_at"] == [-3.0, -2.75] and versus["https_failures"] == 6


def test_http_still_failing_at_the_end_leaves_the_window_open():
    versus = report_mod.https_inside_http(_series([(2.0, 99.0)]), _https([(50.0, 99.0)]), CUT)
    assert versus["window"] == {"start": 0.0, "end": None} and versus["ok"] is True


def test_without_a_written_interval_the_margin_is_the_median_gap():
    versus = report_mod.https_inside_http(_series([(2.0, 14.0)]), _https([(14.0, 14.5)], every=0.5, interval=False),
                                          CUT)  # fmt: skip
    assert versus["margin_seconds"] == 0.5 and versus["window"] == {"start": 0.0, "end": 14.5}


@pytest.mark.parametrize(
    ("args", "rate"),
    [
        (None, None),  # no NGINX ingress controller (Traefik, 1.35+)
        ([], 0.3),  # the MicroK8s addon's args leave ingress-nginx's default
        (["--configmap=$(POD_NAMESPACE)/nginx-load-balancer-microk8s-conf", "--sync-rate-limit=0.5"], 0.5),
        (["--sync-rate-limit", "2"], 2.0),
        (["--sync-rate-limit=fast"], 0.3),
        (["--sync-rate-limit=0"], 0.3),
    ],
)
def test_the_sync_rate_limit_comes_from_the_controllers_args(args, rate):
    assert report_mod.sync_rate_limit(args) == rate


def test_the_ingress_pickup_is_one_sync_token_plus_one_lua_backend_sync():
    seconds, basis = report_mod.ingress_pickup([])
    assert seconds == round(1 / 0.3 + 1.0, 3) == 4.333
    assert "--sync-rate-limit (0.3/s)" in basis and "1 s (Lua backend sync)" in basis
    assert report_mod.ingress_pickup(["--sync-rate-limit=1"])[0] == 2.0
    assert report_mod.ingress_pickup(None) == (0.0, "no ingress-nginx controller found: no allowance for its endpoint "
                                                    "pickup")  # fmt: skip


def test_https_may_fail_after_the_http_window_for_as_long_as_the_ingress_picks_up_endpoints():
    http = _series([(2.0, 14.0)])  # window 1.75 .. 14.0; + 0.25 + 4.333 at its end: 18.583
    pickup = report_mod.ingress_pickup([])
    within = report_mod.https_inside_http(http, _https([(14.0, 18.75)]), CUT, pickup)  # last failure at 18.5
    beyond = report_mod.https_inside_http(http, _https([(14.0, 19.0)]), CUT, pickup)  # and at 18.75
    early = report_mod.https_inside_http(http, _https([(-1.0, -0.5)]), CUT, pickup)  # before the cut: outside
    assert within["ok"] is True and within["window"] == {"start": 0.0, "end": 18.583}
    assert within["ingress_pickup_seconds"] == 4.333
    assert beyond["ok"] is False and beyond["outside_at"] == [18.75]
    assert early["ok"] is False and early["outside_at"] == [-1.0, -0.75]


def test_the_integrated_tuned_drills_https_blackout_still_fails_with_the_allowance():
    """The tuned drill of 2026-12-01 03:41: HTTP's window 0.279-20.307 s; HTTPS failed from the cut to 27.259 s
    (the client's ARP entry named the powered-off node). Within 20.307 + 0.25 + 4.333 = 24.89 s: allowed; the
    failures after it are not."""
    http = {
        "url": "http://10.77.0.240:8081/",
        "interval": 0.25,
        "samples": [
            [CUT - 1.0, True, "200", "hi", 0.01],
            [CUT + 0.279, True, "200", "hi", 0.01],
            [CUT + 0.529, False, "TimeoutError", "", 1.5],
            [CUT + 20.307, True, "200", "hi", 0.01],
        ],
    }
    moments = [-0.035] + [0.215 + 1.5017 * k for k in range(18)] + [27.259]
    https = {
        "url": "https://hello.home.arpa/",
        "interval": 0.25,
        "samples": [[round(CUT + m, 3), m in (-0.035, 27.259), "TimeoutError", "", 1.5] for m in moments],
    }
    versus = report_mod.https_inside_http(http, https, CUT, report_mod.ingress_pickup([]))
    assert versus["window"] == {"start": 0.0, "end": 24.89}
    assert versus["ok"] is False and versus["outside_at"] == [25.744]


def test_the_report_allows_the_pickup_of_the_controller_it_found():
    with_nginx, *_rest = _build_https([(14.0, 18.0)], ingress_args=["--ingress-class=public"])
    without, *_rest = _build_https([(14.0, 18.0)])
    assert with_nginx["app_https"]["versus_http"]["window"]["end"] == 18.583
    assert _verdicts(with_nginx)["https_within_http_window"] == "PASS"
    assert without["app_https"]["versus_http"]["window"]["end"] == 14.25
    assert _verdicts(without)["https_within_http_window"] == "FAIL"
    with_nginx["figure"] = None
    assert ("(HTTP's window widened by 0.25 s, one probe interval, on each side and opened at the cut at the latest, "
            "and by 4.33 s more at its end: "
            "ingress-nginx picks up endpoint changes within 1/--sync-rate-limit (0.3/s) + 1 s (Lua backend sync))"
            in _render(with_nginx))  # fmt: skip


def _build_https(https_fail, profile="default", app=True, ingress_args=None):
    app_series = _series([(2.0, 14.0)]) if app else None
    api = {"url": "https://10.77.0.10:16443/version", "samples": _requests()}
    facts = dict(_facts(profile), app_https_cafile="/work/tls/lab/ca.pem", ingress_controller_args=ingress_args)
    https = _https(https_fail)
    return report_mod.build(facts, api, _watch(), app_series, https), api, app_series, https


@pytest.mark.parametrize("profile", ["default", "tuned"])
def test_the_https_line_is_pass_fail_whatever_the_profile(profile):
    inside, *_rest = _build_https([(4.0, 8.0)], profile)
    outside, *_rest = _build_https([(30.0, 31.0)], profile)
    assert _verdicts(inside)["https_within_http_window"] == "PASS"
    assert _verdicts(outside)["https_within_http_window"] == "FAIL" and outside["result"] == "FAIL"
    assert outside["app_https"]["failed"] == 4 and outside["app_https"]["failure_window"]["seconds"] == 1.25
    assert outside["app_https"]["connect_to"] == "10.77.0.250"


def test_no_https_probe_means_no_https_line_and_https_without_http_is_skipped():
    report, _api, _app = _build()
    assert report["app_https"] is None and "https_within_http_window" not in _verdicts(report)
    skipped, *_rest = _build_https([], app=False)
    line = next(t for t in skipped["targets"] if t["target"] == "https_within_http_window")
    assert line["verdict"] == "SKIPPED" and line["reason"] == "no plain HTTP series to compare with"


def test_text_report_sets_https_beside_http():
    report, *_rest = _build_https([(30.0, 31.0)])
    report["figure"] = None
    text = _render(report)
    head = "app over HTTPS https://hello.home.arpa/ at 10.77.0.250 from client1, verified with /work/tls/lab/ca.pem"
    assert head in text
    assert "4 of %d requests failed" % len(_https()["samples"]) in text
    assert ("4 of 4 HTTPS failures outside the HTTP failure window 0.00 s to 14.25 s (HTTP's window widened by "
            "0.25 s, one probe interval, on each side and opened at the cut at the latest): at 30.0 s, 30.25 s, "
            "30.5 s, 30.75 s") in text  # fmt: skip
    assert "FAIL        HTTPS failures only inside the HTTP failure window: 4 HTTPS failure(s) outside it" in text
    plain, _api, _app = _build()
    plain["figure"] = None
    assert "app over HTTPS: not probed" in _render(plain)


def test_the_pods_target_says_why_it_was_not_measured():
    watch = _watch()
    watch["node"] = "node4"  # no hello pod there
    report, _api, _app = _build(watch=watch, profile="tuned")
    report["drill"]["target_reasons"] = ["datastore voter", "no node holds an app pod (the replacement-pods ...)"]
    report["targets"] = report_mod.judge(report, "tuned")
    line = next(t for t in report["targets"] if t["target"] == "pods_ready_elsewhere")
    assert line["verdict"] == "SKIPPED"
    assert line["reason"] == ("node1 held no pod that moves to another node; no node held a pod of the app when the "
                              "drill chose its target")  # fmt: skip
    report["figure"] = None
    assert "not measured (node1 held no pod that moves" in _render(report)


def test_timeline_picture_has_the_https_row_and_its_recovery(tmp_path):
    report, api, app, https = _build_https([(4.0, 8.0)])
    path = tmp_path / "t.png"
    marks = {name: at for name, at, _c in report_mod.figure(report, api, _watch(), app, str(path), https)}
    assert path.read_bytes()[:4] == b"\x89PNG"
    assert marks["app HTTPS recovered"] == 8.0 and marks["app recovered"] == 14.0


def test_main_reads_the_https_series(tmp_path):
    _report, api, app, https = _build_https([(4.0, 8.0)])
    files = {"facts": _facts(), "api": api, "app": app, "watch": _watch(), "app-https": https}
    for name, data in files.items():
        (tmp_path / (name + ".json")).write_text(json.dumps(data))
    args = ["--%s=%s" % (name, tmp_path / (name + ".json")) for name in files]
    assert report_mod.main([*args, "--out", str(tmp_path / "r.json")]) == 0
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["app_https"]["versus_http"]["ok"] is True
    assert _verdicts(written)["https_within_http_window"] == "PASS"
