# SPDX-License-Identifier: GPL-3.0-or-later
"""Entry point of the inference image: build MLServer's model repository from the mounted model sources, publish
which model versions this replica serves as a Prometheus metric, then run MLServer (Open Inference Protocol v2).

A model source is a directory (a mounted ConfigMap) with `model-settings.json` and the artifact base64-encoded as
`<file>.b64` (ConfigMaps carry text everywhere; binaryData is not handled by every tool). The version is data:
it is in model-settings.json, never in this code or the image."""

import base64
import json
import os
import pathlib
import sys

SOURCE = pathlib.Path(os.environ.get("INFERENCE_MODEL_SOURCE", "/etc/inference/models"))
TARGET = pathlib.Path(os.environ.get("INFERENCE_MODEL_DIR", "/tmp/models"))


def materialise(source: pathlib.Path, target: pathlib.Path) -> list:
    """Copy every <source>/<model>/model-settings.json to <target>/<model>/ and decode its *.b64 files."""
    served = []
    for settings_file in sorted(source.glob("*/model-settings.json")):
        settings = json.loads(settings_file.read_text())
        model_dir = target / settings["name"]
        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "model-settings.json").write_text(json.dumps(settings))
        for encoded in settings_file.parent.glob("*.b64"):
            (model_dir / encoded.name[: -len(".b64")]).write_bytes(base64.b64decode(encoded.read_bytes()))
        served.append((settings["name"], str(settings.get("parameters", {}).get("version", ""))))
    if not served:
        raise SystemExit(f"start.py: no <model>/model-settings.json under {source}: nothing to serve")
    return served


def publish(served: list) -> None:
    """inference_model_info{model, version} 1 on MLServer's metrics endpoint (MLServer labels its own request
    metrics with the version a request names, which devices leave out)."""
    from prometheus_client import Gauge

    info = Gauge("inference_model_info", "Model versions this replica serves", ["model", "version"])
    for name, version in served:
        info.labels(model=name, version=version).set(1)


def main() -> None:
    served = materialise(SOURCE, TARGET)
    publish(served)
    print(f"start.py: serving {', '.join(f'{name} {version}' for name, version in served)}", flush=True)
    from mlserver.cli import main as mlserver

    sys.argv = ["mlserver", "start", str(TARGET)]
    mlserver()


if __name__ == "__main__":
    main()
