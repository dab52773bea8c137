# SPDX-License-Identifier: GPL-3.0-or-later
"""The offload report (controller side; the figure needs matplotlib): from the lab's measurements to a table
(Markdown), a JSON summary and a PNG of accuracy against offload rate."""

from __future__ import annotations

import numpy as np

from onprem_device import simulate


def _pct(values, q):
    return float(np.percentile(values, q)) if len(values) else float("nan")


def accuracy_section(records: dict) -> dict:
    confidence = np.asarray(records["confidence"])
    device_pred = np.asarray(records["device_pred"])
    answered = np.asarray(records["server_pred"])
    # An offload the server did not answer gets the device's own answer (the fallback), as on a device.
    server_pred = np.where(answered < 0, device_pred, answered)
    labels = np.asarray(records["labels"])
    rows = simulate.curves(confidence, device_pred, server_pred, labels)
    accuracy, rate = simulate.threshold_outcome(confidence, device_pred, server_pred, labels, records["threshold"])
    return {
        "curves": rows,
        "n": len(labels),
        "server_failures": int(np.sum(answered < 0)),
        "at_threshold": {"threshold": records["threshold"], "accuracy": accuracy, "offload_rate": rate},
        "cascade_above_random": all(
            row["cascade"] > row["random"] for row in rows if 0.0 < row["rate"] < 1.0 and row["rate"] <= 0.9
        ),
        "device_p50_ms": _pct(records["device_ms"], 50),
        "device_p95_ms": _pct(records["device_ms"], 95),
        "server_path_p50_ms": _pct(records["server_ms"], 50),
        "server_path_p95_ms": _pct(records["server_ms"], 95),
        "uplink_bytes_per_1000_server_only": float(np.sum(records["uplink_bytes"]) / len(labels) * 1000),
    }


def devices_section(result: dict, window: tuple[float, float] | None = None) -> dict:
    """Answers of simulated devices; with a failure window (epoch seconds), offload success outside it."""
    answers = result["answers"]
    if not answers:
        return {"answers": 0}
    latency = [a["latency_ms"] for a in answers]
    paths = [a["path"] for a in answers]
    offloads = [a for a in answers if a["path"] in ("server", "fallback")]
    section = {
        "devices": result["devices"],
        "seconds": result["seconds"],
        "answers": len(answers),
        "answered_share": sum(1 for a in answers if a["label"] is not None) / len(answers),
        "accuracy": float(np.mean([a["correct"] for a in answers])),
        "offload_rate": len(offloads) / len(answers),
        "offloads": len(offloads),
        "fallbacks": paths.count("fallback"),
        "p50_ms": _pct(latency, 50),
        "p95_ms": _pct(latency, 95),
        "uplink_bytes_per_1000": float(sum(a["uplink_bytes"] for a in answers) / len(answers) * 1000),
        "offload_success": (paths.count("server") / len(offloads)) if offloads else None,
        "versions": sorted({a["model_version"] for a in answers if a.get("model_version")}),
    }
    if window is not None:
        start, end = window
        outside = [a for a in offloads if not start <= a["t"] <= end]
        inside = [a for a in offloads if start <= a["t"] <= end]
        section["window_s"] = end - start
        section["offload_success_outside_window"] = (
            sum(1 for a in outside if a["path"] == "server") / len(outside) if outside else None
        )
        section["offload_success_inside_window"] = (
            sum(1 for a in inside if a["path"] == "server") / len(inside) if inside else None
        )
        fallbacks = [a["t"] for a in answers if a["path"] == "fallback"]
        section["fallback_span_s"] = (max(fallbacks) - min(fallbacks)) if fallbacks else 0.0
    return section


def rate_lines(rate: dict, where: str) -> list[str]:
    """The fixed-rate phase: end to end from the client (latency from each request's scheduled time), MLServer's
    own histogram over the same span, and which of the two is the limit."""
    lines = [
        f"Open loop at {rate['rate']:.0f} requests/s for {rate['seconds']:.0f} s ({where}; "
        f"{rate.get('generator', 'threads')}): {rate['ok']}/{rate['requests']} answered, "
        f"p50 {rate['p50_ms']:.1f} ms, p95 {rate['p95_ms']:.1f} ms, p99 {rate['p99_ms']:.1f} ms "
        f"(achieved {rate['achieved_rate']:.0f}/s; send lag p95 {rate.get('send_lag_p95_ms') or 0:.1f} ms).",
    ]
    server = rate.get("server")
    if server and server.get("p95_ms") is not None:
        lines += [
            "",
            f"Inside MLServer over the same span ({rate.get('replicas', '?')} replicas, its "
            f"rest_server_request_duration_seconds histogram, {server['requests']:.0f} infer requests): "
            f"p50 {server['p50_ms']:.1f} ms, p95 {server['p95_ms']:.1f} ms, p99 {server['p99_ms']:.1f} ms, "
            f"mean {server['mean_ms']:.1f} ms (interpolated inside buckets bounded at "
            f"{', '.join(f'{b:g}' for b in server['bucket_bounds_ms'][:8])} ms"
            + (
                f"; the p95 is at most {server['p95_bucket_bound_ms']:g} ms, its bucket's bound"
                if server.get("p95_bucket_bound_ms") is not None
                else ""
            )
            + ").",
            "",
            "The limit: "
            + (
                "the server itself (its own p95 is above 50 ms)."
                if server["p95_ms"] > 50
                else "outside MLServer (its own p95 is within 50 ms; the rest of the end-to-end time is the "
                "client, the network and the node's proxy)."
                if rate["p95_ms"] > 50
                else "none at this rate: both within 50 ms."
            ),
        ]
    return lines


def markdown(report: dict) -> str:
    acc = report["accuracy"]
    lines = [
        "# Offload report",
        "",
        f"Lab: {report.get('lab', '')}. Test split: {acc['n']} digits never seen in training. "
        f"Device model: {report['training']['device_parameters']} parameters, temperature "
        f"{report['training']['temperature']:.3f}, threshold {acc['at_threshold']['threshold']:.4f} "
        f"(target offload {report['training']['target_rate']:.0%}).",
        "",
        *(
            [
                (f"Service deployed by {report['deployed_by']}. " if "deployed_by" in report else "")
                + f"Deployment re-run: changed={report['idempotent_changed']}.",
                "",
            ]
            if "idempotent_changed" in report
            else []
        ),
        "## Accuracy against offload rate (server answers from the live service)",
        "",
        "| offloaded | cascade | random | device only | server only |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in acc["curves"]:
        if round(row["rate"] * 100) % 10 == 0 or abs(row["rate"] - 0.3) < 1e-9:
            lines.append(
                f"| {row['rate']:.0%} | {row['cascade']:.2%} | {row['random']:.2%} | {row['device_only']:.2%} "
                f"| {row['server_only']:.2%} |"
            )
    at = acc["at_threshold"]
    lines += [
        "",
        f"Calibrated threshold on the test split: {at['accuracy']:.2%} accuracy with {at['offload_rate']:.1%} "
        f"offloaded. Cascade above random at every rate in (0, 90 %]: {acc['cascade_above_random']}."
        + (
            f" The service failed {acc['server_failures']} of the test inputs (counted as device fallbacks)."
            if acc["server_failures"]
            else ""
        ),
        "",
        "## Latency and uplink",
        "",
        "| path | p50 ms | p95 ms | uplink bytes / 1,000 inputs |",
        "|---|---:|---:|---:|",
        f"| device only | {acc['device_p50_ms']:.2f} | {acc['device_p95_ms']:.2f} | 0 |",
        f"| server only (one device, sequential) | {acc['server_path_p50_ms']:.1f} | {acc['server_path_p95_ms']:.1f} "
        f"| {acc['uplink_bytes_per_1000_server_only']:,.0f} |",
    ]
    live = report.get("cascade")
    if live:
        lines.append(
            f"| cascade ({live['devices']} devices, {live['answers']} answers, {live['offload_rate']:.1%} offloaded,"
            f" accuracy {live['accuracy']:.2%}) | {live['p50_ms']:.1f} | {live['p95_ms']:.1f} "
            f"| {live['uplink_bytes_per_1000']:,.0f} |"
        )
    tls = report.get("cascade_tls")
    if tls and tls.get("answers"):
        lines.append(
            f"| cascade over TLS via the ingress, device certificate ({tls['devices']} devices, {tls['answers']} "
            f"answers, {tls['offload_rate']:.1%} offloaded, {tls['fallbacks']} fallbacks, accuracy "
            f"{tls['accuracy']:.2%}) | {tls['p50_ms']:.1f} | {tls['p95_ms']:.1f} "
            f"| {tls['uplink_bytes_per_1000']:,.0f} |"
        )
    if report.get("paths"):
        lines += ["", "Paths measured:", "", *(f"- {path}" for path in report["paths"])]
    rate = report.get("rate")
    if rate and not rate["ok"]:
        lines += ["", "## Server under load", "", f"None of {rate['requests']} requests was answered."]
    elif rate:
        lines += ["", "## Server under load", "", *rate_lines(rate, report.get("where", ""))]
    for key, title in (("rolling", "Rolling model update under device load"), ("failover", "Failover drill")):
        section = report.get(key)
        if not section:
            continue
        lines += ["", f"## {title}", "", section.get("what", "")]
        lines.append(
            f"- {section['answers']} answers from {section['devices']} devices over {section['seconds']:.0f} s; "
            f"answered {section['answered_share']:.1%}; accuracy {section['accuracy']:.2%}; "
            f"offloaded {section['offload_rate']:.1%}; fallbacks {section['fallbacks']}; "
            f"p95 {section['p95_ms']:.1f} ms; server versions seen {', '.join(section['versions'])}"
        )
        if "window_s" in section:
            outside = section["offload_success_outside_window"]
            inside = section["offload_success_inside_window"]
            lines.append(
                f"- offload success outside the {section['window_s']:.0f} s failure window: "
                f"{outside:.2%}"
                + (f"; inside it: {inside:.2%}" if inside is not None else "")
                + f"; fallbacks spread over {section['fallback_span_s']:.1f} s"
            )
        elif section.get("offload_success") is not None:
            lines.append(f"- offload success: {section['offload_success']:.2%}")
    if report.get("error"):
        lines += ["", "## INCOMPLETE", "", f"The run stopped: {report['error']}"]
    if report.get("metrics"):
        lines += [
            "",
            "## Metrics (one replica's /metrics through the LoadBalancer)",
            "",
            "```",
            *report["metrics"],
            "```",
        ]
    return "\n".join(lines) + "\n"


def figure(report: dict, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = report["accuracy"]["curves"]
    rates = [row["rate"] * 100 for row in rows]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    ax.plot(rates, [row["cascade"] * 100 for row in rows], "o-", label="confidence cascade (least confident first)")
    ax.plot(rates, [row["random"] * 100 for row in rows], "s--", label="random offload")
    ax.axhline(rows[0]["device_only"] * 100, color="grey", linestyle=":", label="device only")
    ax.axhline(rows[0]["server_only"] * 100, color="black", linestyle="-.", label="server only")
    at = report["accuracy"]["at_threshold"]
    ax.plot([at["offload_rate"] * 100], [at["accuracy"] * 100], "r*", markersize=14, label="calibrated threshold")
    ax.set_xlabel("inputs offloaded to the cluster (%)")
    ax.set_ylabel("accuracy on held-out digits (%)")
    ax.set_title("On-device model + cluster inference service")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
