# SPDX-License-Identifier: GPL-3.0-or-later
"""What a user prepares by hand on a build host before site.yml deploys the inference service, prepared for the lab:
the server image archive (images/inference.py, built offline from the node image's rootfs and the pinned wheels)
and the models trained from scikit-learn's bundled digits (device/onprem_device/train.py; nothing is downloaded).

One copy for both users: `lab.py up --inference` (the inventory then enables the service with the v1 model, and
site.yml deploys it) and offload_report.py (the device kit, and v2 for the rolling update). Training is
deterministic (fixed seed and splits), so both write the same bytes to the same files.
"""

from __future__ import annotations

import pathlib
import sys

LAB_DIR = pathlib.Path(__file__).resolve().parents[1]
REPO = LAB_DIR.parents[1]
IMAGES = LAB_DIR / ".build" / "images"
# Beside the lab's image archives (kept by `make clean`, removed by `lab.py down --purge`): the inventory points here.
MODELS = LAB_DIR / ".build" / "offload" / "models"
IMAGE_REF = "onprem-inference:local"
MODEL_NAME = "digits"
TARGET_RATE = 0.3
SEED = 0


def _device_package():
    """onprem_device.train, from the repository's device/ directory (needs scikit-learn, as the controller has)."""
    device = str(REPO / "device")
    if device not in sys.path:
        sys.path.insert(0, device)
    from onprem_device import train

    return train


def server_image(rootfs_tar: pathlib.Path | None = None) -> pathlib.Path:
    """The server image's gzip-compressed docker-archive (rebuilt only when its inputs change)."""
    from images import build as hello_build
    from images import inference

    return inference.build(rootfs_tar or hello_build.default_rootfs_tar(), IMAGES, IMAGE_REF)


def site_packages() -> pathlib.Path:
    """The image's installed pinned wheels (numpy for the device kit comes from there)."""
    from images import inference

    return inference.site_packages(IMAGES, f"python{sys.version_info.major}.{sys.version_info.minor}")


def train_v1(models: pathlib.Path = MODELS) -> dict:
    """The device bundle, the server model v1 and the held-out test split; returns the training summary."""
    return _device_package().build(models, target_rate=TARGET_RATE, seed=SEED, model_name=MODEL_NAME)


def train_v2(models: pathlib.Path = MODELS) -> None:
    """A second server model (another C) on the same data, for the rolling model update."""
    import joblib
    import numpy as np

    train = _device_package()
    splits = train.load_splits(SEED)
    v2 = train.train_server(
        np.vstack([splits["x_train"], splits["x_cal"]]), np.concatenate([splits["y_train"], splits["y_cal"]]), c=5.0
    )
    (models / "server-v2").mkdir(parents=True, exist_ok=True)
    joblib.dump(v2, models / "server-v2" / train.SERVER_MODEL, compress=("xz", 9))


def served(version: str, models: pathlib.Path = MODELS) -> list[dict]:
    """inference_service_models for one version of the digits model (v1 in `server/`, vN in `server-vN/`)."""
    directory = models / ("server" if version == "v1" else f"server-{version}")
    return [{"name": MODEL_NAME, "version": version, "artifact": str(directory / _device_package().SERVER_MODEL)}]


def prepare(rootfs_tar: pathlib.Path | None = None, models: pathlib.Path = MODELS) -> dict:
    """Everything site.yml needs to deploy the service in the lab: the inventory's inference_service_* values."""
    archive = server_image(rootfs_tar)
    train_v1(models)
    return {"image_archive": archive, "models": served("v1", models)}
