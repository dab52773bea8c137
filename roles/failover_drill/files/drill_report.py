# SPDX-License-Identifier: GPL-3.0-or-later
"""Build the failover drill's report (JSON) and its timeline picture (PNG) from the probes' samples and what the
drill saw (roles/failover_drill). Runs on the controller; the picture needs matplotlib (requirements.txt).

    python drill_report.py --facts facts.json --api api.json --watch watch.json [--app app.json] \
        [--app-https app-https.json] --out reports/failover-20261130-150000.json \
        --png reports/failover-20261130-150000.png

Times in the report are seconds after the power cut. Every figure is computed here from raw samples, so the unit
tests can feed in made-up timelines and check the arithmetic and the verdicts.
"""

from __future__ import annotations

import argparse
import json
import urllib.parse

# The targets of the tuned failover profile: (key, what, limit in seconds).
TARGETS = (
    ("app_failure_window", "failed-request window of the app", 20.0),
    ("api_downtime", "Kubernetes API downtime through the cluster address", 5.0),
    ("pods_ready_elsewhere", "replacement pods Ready on other nodes after the power cut", 60.0),
)
# Pods these controllers own do not move to another node.
STAY_PUT = ("DaemonSet", "Node", "")
# Why a pod mounting a single-node (ReadWriteOnce) volume is reported but not judged: no timing of the profile moves it.
PINNED_WHY = (
    "its replacement starts only once the dead node's volume attachment is released: Kubernetes' force detach after"
    " 6 minutes, or at once when the node is tainted node.kubernetes.io/out-of-service (the storage drill)"
)
# The HTTPS series' target (tls_ingress): it fails only while plain HTTP fails too.
HTTPS_TARGET = ("https_within_http_window", "HTTPS failures only inside the HTTP failure window")
# ingress-nginx (the NGINX ingress addon's controller, MicroK8s <= 1.34: v1.11.5 / v1.13.8) learns that an endpoint
# went away later than kube-proxy does: its sync runs behind a token bucket of --sync-rate-limit syncs per second
# (burst 1; pkg/flags/flags.go, default 0.3), then each nginx worker's Lua balancer reads the new endpoints on its
# next backend sync (rootfs/etc/nginx/lua/balancer.lua, BACKENDS_SYNC_INTERVAL = 1 s).
INGRESS_NGINX_SYNC_RATE_LIMIT = 0.3
INGRESS_NGINX_BACKENDS_SYNC_INTERVAL = 1.0


def outages(samples):
    """Windows of consecutive failed attempts [{start, end, seconds[, ongoing]}], each measured from the last success
    before it (or its first failure when there was none) to the first success after it (or the last sample)."""
    found, last_ok, down_since = [], None, None
    for moment, ok, *_rest in samples:
        if ok:
            if down_since is not None:
                begin = last_ok if last_ok is not None else down_since
                found.append({"start": begin, "end": moment, "seconds": round(moment - begin, 3)})
                down_since = None
            last_ok = moment
        elif down_since is None:
            down_since = moment
    if down_since is not None:
        begin = last_ok if last_ok is not None else down_since
        end = samples[-1][0]
        found.append({"start": begin, "end": end, "seconds": round(end - begin, 3), "ongoing": True})
    return found


def request_summary(samples, cut_at):
    """What a simple client saw: share of failed requests, the longest outage, and the failure window after the cut
    (from the last success before its first failed request to the first success after its last one)."""
    attempts = len(samples)
    failed = sum(1 for sample in samples if not sample[1])
    windows = outages(samples)
    after = [w for w in windows if w["end"] >= cut_at]
    span = None
    if after:
        start, end = after[0]["start"], after[-1]["end"]
        span = {"start": round(start - cut_at, 3), "end": round(end - cut_at, 3), "seconds": round(end - start, 3)}
        if after[-1].get("ongoing"):
            span["ongoing"] = True
    if not after:
        recovered = 0.0
    elif span.get("ongoing"):
        recovered = None
    else:
        recovered = span["end"]
    answers = {}
    for sample in samples:
        if sample[1] and len(sample) > 3 and sample[3]:
            answers[sample[3]] = answers.get(sample[3], 0) + 1
    errors = {}
    for sample in samples:
        if not sample[1]:
            errors[sample[2]] = errors.get(sample[2], 0) + 1
    answered_in = sorted(sample[4] for sample in samples if sample[1] and len(sample) > 4)
    return {
        "attempts": attempts,
        "failed": failed,
        "failed_share": round(failed / attempts, 4) if attempts else None,
        "longest_outage_seconds": max((w["seconds"] for w in windows), default=0.0),
        "failure_window": span,
        "recovered_after_seconds": recovered,
        "outages": [dict(w, start=round(w["start"] - cut_at, 3), end=round(w["end"] - cut_at, 3)) for w in windows],
        "answers": answers,
        "errors": errors,
        "slowest_answer_seconds": answered_in[-1] if answered_in else None,
        "median_answer_seconds": answered_in[len(answered_in) // 2] if answered_in else None,
        "first_sample": round(samples[0][0] - cut_at, 3) if samples else None,
        "last_sample": round(samples[-1][0] - cut_at, 3) if samples else None,
    }


def _baseline(samples, cut_at):
    """The last complete pod list read before the cut."""
    before = [pods for moment, _ready, pods in samples if moment < cut_at and pods is not None]
    return before[-1] if before else None


def moving_owners(pods, node):
    """{owner: pods Ready before the cut, on any node} for the controllers that had a pod on the dead node."""
    owners = {pod[4] for pod in pods if pod[2] == node and pod[4].split("/")[0] not in STAY_PUT}
    return {owner: sum(1 for pod in pods if pod[4] == owner and pod[3]) for owner in sorted(owners)}


def ready_elsewhere(pods, node, owners):
    """{owner: pods Ready, not terminating, on other nodes than the dead one}."""
    return {o: sum(1 for p in pods if p[4] == o and p[2] != node and p[3] and not p[5]) for o in owners}


def owner_details(pods, node, owners):
    """Per moving owner, from the pod list before the cut: its namespace, its Ready pods, its pods on the dead node,
    how long those tolerate an unreachable node (the probe's 7th field: seconds, "forever", or None when the probe
    did not read it), the distinct values sorted, and the single-node claims they mount (the 8th field): such an
    owner's replacement waits for the dead node's volume attachment to be released, which no timing shortens."""
    details = {}
    for owner, want in owners.items():
        dead = [p for p in pods if p[4] == owner and p[2] == node]
        seconds = sorted({p[6] for p in dead if len(p) > 6 and p[6] is not None}, key=str)
        details[owner] = {
            "namespace": dead[0][0] if dead else "",
            "ready_before": want,
            "on_dead_node": len(dead),
            "unreachable_toleration_seconds": seconds,
            "pinning_claims": sorted({claim for p in dead if len(p) > 7 for claim in p[7]}),
            "ready_elsewhere_after_seconds": None,
        }
    return details


def watch_summary(watch, cut_at):
    """When the dead node turned NotReady and when its controllers' pods were all Ready again elsewhere, in all (the
    owners whose dead pods mount no single-node volume) and per owner (which owner was late, and how long its pods
    tolerated the dead node)."""
    samples, node = watch["samples"], watch["node"]
    not_ready = next((m for m, ready, _pods in samples if m >= cut_at and ready not in (None, "True")), None)
    baseline = _baseline(samples, cut_at)
    owners = moving_owners(baseline, node) if baseline is not None else {}
    details = owner_details(baseline, node, owners) if baseline is not None else {}
    judged = {o: want for o, want in owners.items() if not details[o]["pinning_claims"]}
    done, series = None, []
    for moment, _ready, pods in samples:
        if pods is None or moment < cut_at:
            continue
        counts = ready_elsewhere(pods, node, owners)
        series.append([round(moment - cut_at, 3), sum(counts.values())])
        for owner, want in owners.items():
            if details[owner]["ready_elsewhere_after_seconds"] is None and counts[owner] >= max(want, 1):
                details[owner]["ready_elsewhere_after_seconds"] = round(moment - cut_at, 3)
        if done is None and judged and all(counts[o] >= max(want, 1) for o, want in judged.items()):
            done = moment
    return {
        "node": node,
        "not_ready_after_seconds": round(not_ready - cut_at, 3) if not_ready is not None else None,
        "moving_owners": owners,
        "owners": details,
        "pods_ready_elsewhere_after_seconds": round(done - cut_at, 3) if done is not None else None,
        "ready_elsewhere_series": series,
        "api_unanswered_reads": sum(1 for _m, ready, pods in samples if ready is None or pods is None),
        "observed_until": round(samples[-1][0] - cut_at, 3) if samples else None,
    }


def _interval(series):
    """The probe's interval: as it wrote it, else the median gap between its samples (0 with fewer than 2)."""
    if series.get("interval"):
        return float(series["interval"])
    moments = [sample[0] for sample in series["samples"]]
    gaps = sorted(b - a for a, b in zip(moments, moments[1:]))
    return round(gaps[len(gaps) // 2], 3) if gaps else 0.0


def sync_rate_limit(args):
    """The ingress-nginx controller's --sync-rate-limit from its container args (`--sync-rate-limit=0.5` or
    `--sync-rate-limit 0.5`), else its default; None when `args` is None (no NGINX ingress controller found)."""
    if args is None:
        return None
    for index, arg in enumerate(args):
        value = None
        if arg.startswith("--sync-rate-limit="):
            value = arg.split("=", 1)[1]
        elif arg == "--sync-rate-limit" and index + 1 < len(args):
            value = args[index + 1]
        if value is not None:
            try:
                rate = float(value)
            except ValueError:
                continue
            if rate > 0:
                return rate
    return INGRESS_NGINX_SYNC_RATE_LIMIT


def ingress_pickup(args):
    """(seconds, basis): how much later than kube-proxy the ingress controller may still send requests to an
    endpoint that went away: one token of its sync rate limit plus one Lua backend sync. (0.0, why) when the
    controller is not ingress-nginx's (args None): then no allowance beyond the probe interval."""
    rate = sync_rate_limit(args)
    if rate is None:
        return 0.0, "no ingress-nginx controller found: no allowance for its endpoint pickup"
    seconds = round(1.0 / rate + INGRESS_NGINX_BACKENDS_SYNC_INTERVAL, 3)
    basis = "ingress-nginx picks up endpoint changes within 1/--sync-rate-limit (%g/s) + %g s (Lua backend sync)" % (
        rate,
        INGRESS_NGINX_BACKENDS_SYNC_INTERVAL,
    )
    return seconds, basis


def https_inside_http(http, https, cut_at, pickup=(0.0, None)):
    """Whether the HTTPS series failed only while plain HTTP failed too.

    Rule: every failed HTTPS attempt (its start, seconds after the cut) lies within the HTTP failure window
    (request_summary's: from the last HTTP success before HTTP's first failure after the cut to the first success
    after its last failure; still failing at the end: open-ended) widened by one HTTPS probe interval on both sides,
    as two probes started a fraction of an interval apart can see the same moment, and at its end also by the
    ingress controller's endpoint pickup (`pickup` = (seconds, basis), from ingress_pickup): HTTPS goes through the
    ingress controller, which drops a dead endpoint that much later than kube-proxy, which plain HTTP goes through.
    The window opens at the cut at the latest: each new connection picks an endpoint at random, so the first probe
    to meet the dead pod after the cut may be an HTTPS one (the lab's default drill of 2026-12-01 failed HTTPS once
    at 0.55 s, HTTP first at 1.14 s). With no HTTP failure after the cut, any HTTPS failure is outside; HTTPS
    failures before the cut are always outside.
    """
    margin = _interval(https)
    pickup_seconds, pickup_basis = pickup
    window = request_summary(http["samples"], cut_at)["failure_window"]
    if window is None:
        low = high = None
    else:
        low = min(round(window["start"] - margin, 3), 0.0)
        high = None if window.get("ongoing") else round(window["end"] + margin + pickup_seconds, 3)
    failed = [round(sample[0] - cut_at, 3) for sample in https["samples"] if not sample[1]]
    outside = [moment for moment in failed if window is None or moment < low or (high is not None and moment > high)]
    return {
        "rule": "every HTTPS failure within the HTTP failure window widened by one probe interval, opened at the cut"
        " at the latest, and at its end also by the ingress controller's endpoint pickup",
        "margin_seconds": margin,
        "ingress_pickup_seconds": pickup_seconds,
        "ingress_pickup_basis": pickup_basis,
        "window": None if window is None else {"start": low, "end": high},
        "https_failures": len(failed),
        "outside": len(outside),
        "outside_at": outside[:20],
        "ok": not outside,
    }


def measured(report):
    """The figure each target is judged on (None: it did not happen while the drill watched)."""
    app_window = (report["app"] or {}).get("failure_window")
    api_window = report["api"]["failure_window"]
    pods = report["events"]["pods_ready_elsewhere_after_seconds"]
    return {
        "app_failure_window": None if report["app"] is None else _window(app_window),
        "api_downtime": _window(api_window),
        "pods_ready_elsewhere": pods,
    }


def _window(window):
    if window is None:
        return 0.0
    return None if window.get("ongoing") else window["seconds"]


def not_measured(report, key):
    """Why a target could not be measured in this drill (None: it could)."""
    if key == "app_failure_window" and report["app"] is None:
        return "the app was not probed (no LoadBalancer address)"
    pinned = pinned_owners(report) if key == "pods_ready_elsewhere" else []
    if pinned and len(pinned) == len(report["events"].get("owners") or {}):
        return "every pod of %s that moves mounts a single-node volume (%s): %s" % (
            report["drill"].get("node_name") or report["drill"].get("target"),
            ", ".join(sorted({claim for owner in pinned for claim in owner["claims"]})),
            PINNED_WHY,
        )
    if key == "pods_ready_elsewhere" and not report["events"]["moving_owners"]:
        drill = report["drill"]
        why = "%s held no pod that moves to another node" % (drill.get("node_name") or drill.get("target"))
        reasons = " ".join(drill.get("target_reasons") or [])
        if "no node holds an app pod" in reasons:
            why += "; no node held a pod of the app when the drill chose its target"
        elif "named by failover_drill_target" in reasons:
            why += " (the target was named by failover_drill_target)"
        return why
    return None


def late_owners(report, limit):
    """The owners whose pods were not all Ready elsewhere within `limit` seconds of the cut, slowest (never) first:
    [{owner, namespace, after (None: not seen), unreachable_toleration_seconds}]."""
    late = [
        {"owner": owner, "namespace": d["namespace"], "after": d["ready_elsewhere_after_seconds"],
         "unreachable_toleration_seconds": d["unreachable_toleration_seconds"]}
        for owner, d in sorted((report["events"].get("owners") or {}).items())
        if not d.get("pinning_claims")
        and (d["ready_elsewhere_after_seconds"] is None or d["ready_elsewhere_after_seconds"] > limit)
    ]  # fmt: skip
    return sorted(late, key=lambda item: (item["after"] is not None, -(item["after"] or 0)))


def pinned_owners(report):
    """The owners left out of the replacement-pods target because their dead pods mount a single-node volume:
    [{owner, namespace, claims, after}], and why (PINNED_WHY)."""
    return [
        {"owner": owner, "namespace": d["namespace"], "claims": d["pinning_claims"],
         "after": d["ready_elsewhere_after_seconds"]}
        for owner, d in sorted((report["events"].get("owners") or {}).items())
        if d.get("pinning_claims")
    ]  # fmt: skip


def judge(report, profile):
    """One line per target. The tuned profile is judged (PASS/FAIL); the default one is informational. The HTTPS
    line (when HTTPS was probed) is PASS/FAIL whatever the profile: it is about correctness, not timing."""
    figures = measured(report)
    lines = []
    for key, what, limit in TARGETS:
        value = figures[key]
        reason = not_measured(report, key)
        if reason:
            line = {"target": key, "what": what, "limit": limit, "measured": None, "verdict": "SKIPPED"}
            lines.append(dict(line, reason=reason))
            continue
        met = value is not None and value <= limit
        verdict = ("PASS" if met else "FAIL") if profile == "tuned" else ("INFO-met" if met else "INFO-missed")
        line = {"target": key, "what": what, "limit": limit, "measured": value, "verdict": verdict}
        if key == "pods_ready_elsewhere" and not met:
            line["late"] = late_owners(report, limit)
        pinned = pinned_owners(report) if key == "pods_ready_elsewhere" else []
        if pinned:
            line.update(pinned=pinned, pinned_why=PINNED_WHY)
        lines.append(line)
    https = report.get("app_https")
    if https is not None:
        key, what = HTTPS_TARGET
        line = {"target": key, "what": what, "limit": None}
        if https["versus_http"] is None:
            lines.append(dict(line, measured=None, verdict="SKIPPED", reason="no plain HTTP series to compare with"))
        else:
            versus = https["versus_http"]
            lines.append(dict(line, measured=versus["outside"], verdict="PASS" if versus["ok"] else "FAIL"))
    return lines


def checks(facts):
    """What must hold whatever the profile: a standby took the dead voter's place (where one could), the node came
    back Ready, and the datastore has its full voters again."""
    found = [
        {"check": "node back and Ready", "ok": facts.get("node_back_after_seconds") is not None},
        {"check": "full voters after the node came back", "ok": bool(facts.get("voters_full_after"))},
    ]
    if facts.get("promotion_expected"):
        found.insert(0, {"check": "a standby was promoted", "ok": facts.get("promoted_after_seconds") is not None})
    return found


def build(facts, api, watch, app=None, app_https=None):
    cut_at = facts["power_cut_at"]
    events = watch_summary(watch, cut_at)
    events["promoted_after_seconds"] = facts.get("promoted_after_seconds")
    events["node_back_after_seconds"] = facts.get("node_back_after_seconds")
    report = {
        "drill": {
            k: facts.get(k)
            for k in ("target", "node_name", "target_reasons", "power_method", "profile", "client", "started")
        },
        "power_cut_at": cut_at,
        "api": dict(request_summary(api["samples"], cut_at), url=api["url"], through=facts.get("api_through")),
        "app": dict(request_summary(app["samples"], cut_at), url=app["url"]) if app else None,
        "app_https": None,
        "events": events,
        "voters": {k: facts.get("voters_" + k, []) for k in ("before", "during", "after")},
        "high_availability_after": facts.get("high_availability_after"),
    }
    if app_https:
        report["app_https"] = dict(
            request_summary(app_https["samples"], cut_at),
            url=app_https["url"],
            connect_to=app_https.get("connect_to"),
            cafile=facts.get("app_https_cafile"),
            versus_http=https_inside_http(app, app_https, cut_at, ingress_pickup(facts.get("ingress_controller_args")))
            if app
            else None,
        )
    report["targets"] = judge(report, facts.get("profile", "default"))
    report["checks"] = checks(facts)
    failed = [c for c in report["checks"] if not c["ok"]] + [t for t in report["targets"] if t["verdict"] == "FAIL"]
    report["result"] = "FAIL" if failed else "PASS"
    return report


def figure(report, api, watch, app, path, app_https=None):
    """The timeline: each probe's attempts (ok / failed) against seconds after the power cut, with the events."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cut_at = report["power_cut_at"]
    api_host = urllib.parse.urlsplit(report["api"]["url"]).hostname
    rows = [("API at " + str(api_host), api)] + ([("app (HTTP) from the client", app)] if app else [])
    rows += [("app (HTTPS) from the client", app_https)] if app_https else []
    summaries = {id(api): report["api"], id(app): report["app"], id(app_https): report["app_https"]}
    fig, (probes, pods) = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for row, (_label, data) in enumerate(rows):
        for ok, colour, mark in ((True, "tab:green", "|"), (False, "tab:red", "x")):
            xs = [s[0] - cut_at for s in data["samples"] if bool(s[1]) is ok]
            probes.scatter(
                xs, [row] * len(xs), c=colour, marker=mark, s=40, label=("ok" if ok else "failed") if row == 0 else None
            )
        summary = summaries[id(data)]
        window = summary["failure_window"]
        if window:
            probes.axvspan(window["start"], window["end"], ymin=(row + 0.1) / len(rows), ymax=(row + 0.9) / len(rows),
                           color="tab:red", alpha=0.12)  # fmt: skip
        allowed = (summary.get("versus_http") or {}).get("window") if data is app_https else None
        if allowed:  # where HTTPS may fail: HTTP's failure window widened by one probe interval
            end = allowed["end"] if allowed["end"] is not None else summary["last_sample"]
            probes.axvspan(allowed["start"], end, ymin=(row + 0.05) / len(rows), ymax=(row + 0.95) / len(rows),
                           fill=False, edgecolor="grey", linestyle=":", label="HTTP window + 1 interval")  # fmt: skip
    probes.set_yticks(range(len(rows)), [label for label, _data in rows])
    probes.set_ylim(-0.6, len(rows) - 0.4)
    series = report["events"]["ready_elsewhere_series"]
    pods.step([s[0] for s in series], [s[1] for s in series], where="post", color="tab:blue")
    pods.set_ylabel("pods Ready\nelsewhere")
    wanted = sum(max(want, 1) for want in report["events"]["moving_owners"].values())
    if wanted:
        pods.axhline(wanted, color="grey", linestyle=":", linewidth=1, label="wanted Ready elsewhere")
    pods.set_ylim(0, max([wanted] + [s[1] for s in series] + [1]) * 1.6)
    pods.yaxis.get_major_locator().set_params(integer=True)
    pods.set_xlabel("seconds after the power cut")
    events = report["events"]
    marks = [
        ("power cut", 0.0, "black"),
        ("NotReady", events["not_ready_after_seconds"], "tab:orange"),
        ("promotion", events["promoted_after_seconds"], "tab:purple"),
        ("app recovered", _recovered(report["app"]), "tab:green"),
    ]
    if app_https:
        marks.append(("app HTTPS recovered", _recovered(report["app_https"]), "tab:olive"))
    marks += [
        ("API recovered", _recovered(report["api"]), "tab:cyan"),
        ("pods Ready elsewhere", events["pods_ready_elsewhere_after_seconds"], "tab:blue"),
    ]
    for name, moment, colour in marks:
        if moment is None:
            continue
        for axes in (probes, pods):
            axes.axvline(moment, color=colour, linestyle="--", linewidth=1.2, label=name if axes is pods else None)
    pods.legend(loc="lower right", fontsize=7, ncols=3)
    probes.legend(loc="upper right", fontsize=7)
    drill = report["drill"]
    fig.suptitle("Failover drill: %s powered off (%s), profile %s: %s"
                 % (drill["target"], drill["power_method"], drill["profile"], report["result"]))  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return marks


def _recovered(summary):
    """When every request succeeded again, for the picture: nothing to mark when none failed after the cut."""
    if not summary or summary["failure_window"] is None:
        return None
    return summary["recovered_after_seconds"]


def _load(path):
    if not path:
        return None
    with open(path) as handle:
        return json.load(handle)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", required=True, help="what the drill saw (JSON)")
    parser.add_argument("--api", required=True, help="the API probe's samples (probe.py request)")
    parser.add_argument("--watch", required=True, help="the node and pod watch (probe.py watch)")
    parser.add_argument("--app", help="the app probe's samples, when the app was probed")
    parser.add_argument("--app-https", help="the app's HTTPS probe's samples, when tls_ingress serves it")
    parser.add_argument("--out", required=True, help="the report (JSON) to write")
    parser.add_argument("--png", help="the timeline picture to write")
    args = parser.parse_args(argv)
    facts, api, watch, app = _load(args.facts), _load(args.api), _load(args.watch), _load(args.app)
    app_https = _load(args.app_https)
    report = build(facts, api, watch, app, app_https)
    report["figure"] = None
    if args.png:
        try:
            figure(report, api, watch, app, args.png, app_https)
            report["figure"] = args.png
        except ImportError as error:
            report["figure_error"] = "no picture: %s (pip install -r requirements.txt)" % error
    with open(args.out, "w") as handle:
        json.dump(report, handle, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
