# SPDX-License-Identifier: GPL-3.0-or-later
"""onprem-device: the device side of the offload system.

  onprem-device check   --server URL                     is the inference service ready (and the model)?
  onprem-device run     --model DIR --server URL [...]   answer inputs (JSON lines, .npy or .npz), one JSON line each
  onprem-device upload  --spool FILE --upload-url URL    send the retraining queue to the collector
  onprem-device collect --listen HOST:PORT --out FILE    a collector that appends uploaded records as JSON lines
  onprem-device train   --out DIR                        (controller, needs scikit-learn) train both models

Settings also come from the environment: ONPREM_DEVICE_SERVER, ONPREM_DEVICE_MODEL, ONPREM_DEVICE_CA_FILE,
ONPREM_DEVICE_CERT_FILE, ONPREM_DEVICE_KEY_FILE (this device's certificate and key, for a service that requires
one), ONPREM_DEVICE_SPOOL, ONPREM_DEVICE_UPLOAD_URL."""

from __future__ import annotations

import argparse
import http.server
import json
import os
import pathlib
import sys
import threading

import numpy as np

from onprem_device.cascade import POLICIES, Device
from onprem_device.client import DEFAULT_TIMEOUT, V2Client
from onprem_device.model import DeviceModel
from onprem_device.spool import Spool


def read_inputs(source: str):
    """Rows of features: JSON lines (a list per line, or {"features": [...]}) from a file or '-', .npy, .npz (x)."""
    if source.endswith((".npy", ".npz")):
        data = np.load(source)
        rows = data["x"] if source.endswith(".npz") else data
        yield from (row.tolist() for row in np.atleast_2d(rows))
        return
    stream = sys.stdin if source == "-" else open(source, encoding="utf-8")  # noqa: SIM115
    with stream:
        for line in stream:
            if line.strip():
                item = json.loads(line)
                yield item["features"] if isinstance(item, dict) else item


def _client(args) -> V2Client:
    if not args.server:
        raise ValueError("no server: give --server http(s)://host:port or set ONPREM_DEVICE_SERVER")
    return V2Client(
        args.server, timeout=args.timeout, ca_file=args.ca_file, cert_file=args.cert_file, key_file=args.key_file
    )


def _credentials(args) -> dict:
    return {"ca_file": args.ca_file, "cert_file": args.cert_file, "key_file": args.key_file}


def cmd_check(args) -> int:
    client = _client(args)
    ready, model_ready = client.ready(), client.model_ready(args.model_name)
    print(json.dumps({"server": args.server, "ready": ready, "model": args.model_name, "model_ready": model_ready}))
    return 0 if ready and model_ready else 1


def cmd_run(args) -> int:
    model = DeviceModel.load(args.model)
    client = _client(args) if args.policy != "device" else None
    spool = Spool(args.spool, device_id=args.device_id) if args.spool else None
    device = Device(model, client, args.model_name, args.policy, threshold=args.threshold, rate=args.rate, spool=spool)
    for features in read_inputs(args.input):
        print(json.dumps(device.answer(features).as_dict()), flush=True)
    if spool is not None and args.upload_url:
        spool.upload(args.upload_url, **_credentials(args))
    return 0


def cmd_upload(args) -> int:
    if not args.upload_url:
        raise ValueError("no collector: give --upload-url or set ONPREM_DEVICE_UPLOAD_URL")
    spool = Spool(args.spool, device_id=args.device_id)
    sent = spool.upload(args.upload_url, **_credentials(args))
    print(json.dumps({"uploaded": sent, "left": len(spool)}))
    return 0 if len(spool) == 0 else 1


def make_collector(host: str, port: int, out: pathlib.Path) -> http.server.ThreadingHTTPServer:
    lock = threading.Lock()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                records = body["records"]
            except (ValueError, KeyError, TypeError):
                self.send_response(400)
                self.end_headers()
                return
            with lock, out.open("a", encoding="utf-8") as sink:
                for record in records:
                    sink.write(json.dumps({"device": body.get("device"), **record}) + "\n")
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    return http.server.ThreadingHTTPServer((host, port), Handler)


def cmd_collect(args) -> int:
    host, _colon, port = args.listen.rpartition(":")
    server = make_collector(host or "0.0.0.0", int(port), pathlib.Path(args.out))
    print(f"collecting on {args.listen} into {args.out}", file=sys.stderr)
    server.serve_forever()
    return 0


def cmd_train(args) -> int:
    from onprem_device import train

    print(json.dumps(train.build(args.out, args.target_rate, args.seed, args.model_name, args.version, args.version)))
    return 0


def parser() -> argparse.ArgumentParser:
    env = os.environ.get
    top = argparse.ArgumentParser(
        prog="onprem-device", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)

    def server_args(p):
        p.add_argument("--server", default=env("ONPREM_DEVICE_SERVER"), help="inference service URL")
        p.add_argument("--model-name", default="digits", help="model name on the server (default digits)")
        p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds per attempt (default 0.3)")
        tls_args(p)

    def tls_args(p):
        p.add_argument("--ca-file", default=env("ONPREM_DEVICE_CA_FILE"), help="CA bundle for an https server")
        p.add_argument(
            "--cert-file", default=env("ONPREM_DEVICE_CERT_FILE"), help="this device's certificate (PEM, mutual TLS)"
        )
        p.add_argument("--key-file", default=env("ONPREM_DEVICE_KEY_FILE"), help="its private key (PEM)")

    check = sub.add_parser("check", help="is the service ready")
    server_args(check)
    check.set_defaults(func=cmd_check)

    run = sub.add_parser("run", help="answer inputs")
    server_args(run)
    run.add_argument("--model", default=env("ONPREM_DEVICE_MODEL"), required=not env("ONPREM_DEVICE_MODEL"))
    run.add_argument("--input", default="-", help="JSON lines file, .npy or .npz; '-' = stdin (default)")
    run.add_argument("--policy", choices=POLICIES, default="cascade")
    run.add_argument("--threshold", type=float, help="override the calibrated threshold")
    run.add_argument("--rate", type=float, default=0.3, help="offload share of the random policy")
    run.add_argument("--spool", default=env("ONPREM_DEVICE_SPOOL"), help="retraining queue (SQLite file)")
    run.add_argument("--upload-url", default=env("ONPREM_DEVICE_UPLOAD_URL"), help="collector URL")
    run.add_argument("--device-id", default=os.uname().nodename)
    run.set_defaults(func=cmd_run)

    upload = sub.add_parser("upload", help="upload the retraining queue")
    upload.add_argument("--spool", default=env("ONPREM_DEVICE_SPOOL"), required=not env("ONPREM_DEVICE_SPOOL"))
    upload.add_argument("--upload-url", default=env("ONPREM_DEVICE_UPLOAD_URL"))
    tls_args(upload)
    upload.add_argument("--device-id", default=os.uname().nodename)
    upload.set_defaults(func=cmd_upload)

    collect = sub.add_parser("collect", help="run a collector for uploads")
    collect.add_argument("--listen", default="0.0.0.0:8090")
    collect.add_argument("--out", default="feedback.jsonl")
    collect.set_defaults(func=cmd_collect)

    train = sub.add_parser("train", help="train both models (controller; needs scikit-learn)")
    train.add_argument("--out", required=True)
    train.add_argument("--target-rate", type=float, default=0.3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--model-name", default="digits")
    train.add_argument("--version", default="v1")
    train.set_defaults(func=cmd_train)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, OSError) as exc:
        print(f"onprem-device: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
