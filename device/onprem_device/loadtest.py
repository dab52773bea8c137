# SPDX-License-Identifier: GPL-3.0-or-later
"""Simulated devices against a live inference service (runs where the devices are: numpy + standard library).

  python3 -m onprem_device.loadtest records --server URL --model DIR --data test.npz
      every test input through the device model and through the server (server-only path): per-input confidence,
      both answers, both latencies, uplink bytes
  python3 -m onprem_device.loadtest devices --server URL --model DIR --data test.npz --devices N --seconds S
      N devices running the cascade concurrently (closed loop, --pause between inputs), every answer timestamped
  python3 -m onprem_device.loadtest rate --server URL --rate R --seconds S
      open loop (asyncio, fixed schedule): R inference requests per second, each one's latency from when it was
      due; at most --connections in flight (server p95 at a rate)
records and devices speak https with --ca-file (and --cert-file/--key-file where the service requires a device
certificate); rate is plain http only. Prints one JSON document."""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

import numpy as np

from onprem_device import openloop
from onprem_device.cascade import Device
from onprem_device.client import V2Client
from onprem_device.model import DeviceModel


def records(url: str, model: DeviceModel, x, y, name: str, timeout: float, tls: dict | None = None) -> dict:
    probs = model.predict_proba(x)
    client = V2Client(url, timeout=timeout, **(tls or {}))
    server_pred, server_ms, uplink = [], [], []
    device = Device(model, client, name, policy="server")
    local = Device(model, None, name, policy="device")
    device_ms = []
    for row in x:
        answer = device.answer(row)
        server_pred.append(answer.label if answer.path == "server" else -1)
        server_ms.append(answer.latency_ms)
        uplink.append(answer.uplink_bytes)
        device_ms.append(local.answer(row).latency_ms)
    return {
        "confidence": probs.max(1).tolist(),
        "device_pred": [int(model.labels[i]) for i in probs.argmax(1)],
        "server_pred": server_pred,
        "labels": [int(label) for label in y],
        "server_ms": server_ms,
        "device_ms": device_ms,
        "uplink_bytes": uplink,
        "threshold": model.threshold,
    }


def devices(
    url, model, x, y, name, timeout, count: int, seconds: float, pause: float, stop_file=None, tls=None
) -> dict:
    """`count` devices, each its own connection, cycling through the test inputs from a different start; they stop
    after `seconds` or as soon as `stop_file` exists."""
    answers: list[dict] = []
    lock = threading.Lock()
    began = time.monotonic()
    stop = began + seconds

    def one(index: int) -> None:
        device = Device(model, V2Client(url, timeout=timeout, **(tls or {})), name, policy="cascade")
        position = index * 97
        mine = []
        while time.monotonic() < stop and not (stop_file and os.path.exists(stop_file)):
            row = position % len(x)
            try:
                answer = device.answer(x[row]).as_dict()
            except Exception as exc:  # an unanswered query is what is measured
                answer = {"label": None, "path": "error", "latency_ms": 0.0, "uplink_bytes": 0, "error": str(exc)}
            answer.update(t=time.time(), device=index, correct=answer["label"] == int(y[row]))
            mine.append(answer)
            position += 1
            if pause:
                time.sleep(pause)
        with lock:
            answers.extend(mine)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers.sort(key=lambda a: a["t"])
    # how long they ran (less than `seconds` when the stop file ended them)
    return {"devices": count, "seconds": time.monotonic() - began, "answers": answers}


def rate(url: str, name: str, x, per_second: float, seconds: float, connections: int, timeout: float) -> dict:
    """Open loop at a fixed rate (onprem_device.openloop): latency from each request's scheduled time."""
    rows = [[float(v) for v in row] for row in x]
    return openloop.run(url, name, rows, per_second, seconds, connections, timeout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="loadtest", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("mode", choices=("records", "devices", "rate"))
    parser.add_argument("--server", required=True)
    parser.add_argument("--model", help="device model bundle")
    parser.add_argument("--data", required=True, help="test.npz (x, y)")
    parser.add_argument("--model-name", default="digits")
    parser.add_argument("--timeout", type=float, default=0.3)
    parser.add_argument("--devices", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--pause", type=float, default=0.05, help="seconds between a device's inputs")
    parser.add_argument("--stop-file", help="devices: stop as soon as this file exists")
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--connections", type=int, default=64, help="rate: most requests in flight at once")
    parser.add_argument("--ca-file", help="records/devices: CA bundle for an https server")
    parser.add_argument("--cert-file", help="records/devices: the device certificate (mutual TLS)")
    parser.add_argument("--key-file", help="records/devices: its private key")
    parser.add_argument("--out", help="write the JSON here instead of stdout")
    args = parser.parse_args(argv)
    tls = {"ca_file": args.ca_file, "cert_file": args.cert_file, "key_file": args.key_file}
    data = np.load(args.data)
    x, y = data["x"].astype(np.float64), data["y"]
    if args.mode == "rate":
        result = rate(
            args.server, args.model_name, x, args.rate, args.seconds, args.connections, max(args.timeout, 2.0)
        )
    else:
        model = DeviceModel.load(args.model)
        if args.mode == "records":
            result = records(args.server, model, x, y, args.model_name, args.timeout, tls)
        else:
            result = devices(
                args.server,
                model,
                x,
                y,
                args.model_name,
                args.timeout,
                args.devices,
                args.seconds,
                args.pause,
                args.stop_file,
                tls,
            )
    text = json.dumps(result)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
