# SPDX-License-Identifier: GPL-3.0-or-later
"""Entry point of the inference image: build MLServer's model repository from the mounted model sources, publish
which model versions this replica serves as a Prometheus metric, then run MLServer (Open Inference Protocol v2).

MLServer is started as `mlserver start` does, without its command line module: that one also imports the batch
client (tritonclient, gevent, aiohttp), which a server never uses and the image does not carry. On SIGTERM the
replica keeps serving for INFERENCE_DRAIN_SECONDS (Kubernetes takes a terminating pod out of the Service's endpoints
at once, but every node's proxy rules follow a moment later), then stops as MLServer does: requests sent during a
rolling update reach a replica that still answers.

A model source is a directory (a mounted ConfigMap) with `model-settings.json` and the artifact base64-encoded as
`<file>.b64` (ConfigMaps carry text everywhere; binaryData is not handled by every tool). The version is data:
it is in model-settings.json, never in this code or the image."""

import asyncio
import base64
import contextlib
import json
import os
import pathlib
import signal

SOURCE = pathlib.Path(os.environ.get("INFERENCE_MODEL_SOURCE", "/etc/inference/models"))
TARGET = pathlib.Path(os.environ.get("INFERENCE_MODEL_DIR", "/tmp/models"))
DRAIN_SECONDS = float(os.environ.get("INFERENCE_DRAIN_SECONDS", "5"))


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


async def serve(folder: pathlib.Path, drain_seconds: float) -> None:
    """MLServer's `start` command (mlserver.cli.serve.load_settings without a settings.json), with SIGTERM
    draining first. MLSERVER_* environment variables configure the server as they do for `mlserver start`."""
    import uvicorn
    from mlserver import MLServer
    from mlserver.repository.factory import ModelRepositoryFactory
    from mlserver.settings import Settings

    # MLServer means its HTTP servers to leave signals to it (their install_signal_handlers does nothing), but
    # uvicorn >= 0.29 captures SIGINT/SIGTERM in capture_signals() instead and would stop serving at once.
    uvicorn.Server.capture_signals = lambda _server: contextlib.nullcontext()
    settings = Settings()
    settings.model_repository_root = str(folder)
    models = []
    if settings.load_models_at_startup:
        models = await ModelRepositoryFactory.resolve_model_repository(settings).list()
    server = MLServer(settings)  # installs its own SIGINT/SIGTERM/SIGQUIT handlers on this loop
    loop = asyncio.get_running_loop()
    stopping = []

    async def drain() -> None:
        print(f"start.py: SIGTERM: serving {drain_seconds:g} s more while the endpoints drop this replica", flush=True)
        await asyncio.sleep(drain_seconds)
        await server.stop(sig=signal.SIGTERM)

    def on_term() -> None:
        if not stopping:
            stopping.append(loop.create_task(drain()))

    loop.add_signal_handler(signal.SIGTERM, on_term)
    await server.start(models)


def main() -> None:
    served = materialise(SOURCE, TARGET)
    publish(served)
    print(f"start.py: serving {', '.join(f'{name} {version}' for name, version in served)}", flush=True)
    from mlserver.logging import configure_logger
    from mlserver.utils import install_uvloop_event_loop

    configure_logger()
    install_uvloop_event_loop()
    asyncio.run(serve(TARGET, DRAIN_SECONDS))


if __name__ == "__main__":
    main()
