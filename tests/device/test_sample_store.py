# SPDX-License-Identifier: GPL-3.0-or-later
"""The server side of the retraining queue (roles/inference_service/files/sample_store.py), driven by the device's
own uploader: a batch leaves a device's queue only once the store has it on disk, bad batches are refused and kept
on the device, a torn last line from a power cut is cut off at start-up."""

from __future__ import annotations

import hashlib
import http.client
import importlib.util
import json
import pathlib
import threading
import urllib.error
import urllib.request

import pytest
from onprem_device.spool import Spool

STORE_FILE = pathlib.Path(__file__).resolve().parents[2] / "roles" / "inference_service" / "files" / "sample_store.py"
spec = importlib.util.spec_from_file_location("sample_store", STORE_FILE)
sample_store = importlib.util.module_from_spec(spec)
spec.loader.exec_module(sample_store)


@pytest.fixture
def store(tmp_path):
    """A running store on loopback: (Store, base URL); stopped afterwards."""
    running = sample_store.Store(tmp_path / "data")
    server = sample_store.make_server(running, "127.0.0.1", 0, max_batch=50)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield running, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def queued(tmp_path, count, name="pi-1"):
    spool = Spool(tmp_path / f"{name}.db", device_id=name)
    for n in range(count):
        spool.put([n, n + 1], server_label=n % 10, device_label=(n + 1) % 10, confidence=0.5, version="v1")
    return spool


def get(url):
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def test_uploaded_batches_are_stored_whole_and_leave_the_device_queue(tmp_path, store):
    running, url = store
    spool = queued(tmp_path, 120)
    assert spool.upload(url + "/v1/samples", batch=50) == 120
    assert len(spool) == 0
    lines = [json.loads(line) for line in running.path.read_text().splitlines()]
    assert len(lines) == 120
    assert {line["device"] for line in lines} == {"pi-1"}
    assert [line["features"] for line in lines[:2]] == [[0, 1], [1, 2]]
    assert get(url + "/v1/samples")["records"] == 120
    assert get(url + "/healthz") == {"ok": True}


def test_a_batch_the_store_could_not_sync_stays_on_the_device(tmp_path, store, monkeypatch):
    _running, url = store
    spool = queued(tmp_path, 5)

    def broken_fsync(_fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sample_store.os, "fsync", broken_fsync)
    assert spool.upload(url + "/v1/samples") == 0
    assert len(spool) == 5


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "not JSON"),
        (b'{"device": "x"}', "records"),
        (b'{"device": "x", "records": [1, 2]}', "JSON object"),
        (json.dumps({"device": "x", "records": [{}] * 51}).encode(), "at most 50"),
    ],
)
def test_bad_batches_are_refused_with_the_reason_and_nothing_is_stored(store, body, reason):
    running, url = store
    request = urllib.request.Request(url + "/v1/samples", data=body, headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    assert refused.value.code == 400
    assert reason in json.loads(refused.value.read())["error"]
    assert running.path.read_bytes() == b""


def test_a_too_large_batch_from_a_device_stays_queued(tmp_path, store):
    _running, url = store
    spool = queued(tmp_path, 60)
    assert spool.upload(url + "/v1/samples", batch=60) == 0
    assert len(spool) == 60


def test_a_torn_last_line_is_cut_off_and_the_count_survives_a_restart(tmp_path):
    directory = tmp_path / "data"
    first = sample_store.Store(directory)
    first.append("pi-1", [{"n": 1}, {"n": 2}])
    with first.path.open("a") as sink:  # a power cut in the middle of a batch that was never acknowledged
        sink.write('{"device":"pi-1","n":3')
    again = sample_store.Store(directory)
    assert again.records == 2
    assert again.path.read_text().endswith('"n":2}\n')
    again.append("pi-2", [{"n": 4}])
    assert [json.loads(line)["n"] for line in again.path.read_text().splitlines()] == [1, 2, 4]


def put_model(url, name, version, data, sha256=None):
    """(status, JSON answer) of PUT /v1/models/<name>/<version>."""
    headers = {"Content-Type": "application/octet-stream"}
    if sha256:
        headers["X-Content-Sha256"] = sha256
    request = urllib.request.Request(f"{url}/v1/models/{name}/{version}", data=data, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_model_versions_are_kept_once_and_read_back_byte_for_byte(store):
    _running, url = store
    artifact = bytes(range(256)) * 40
    digest = hashlib.sha256(artifact).hexdigest()
    assert put_model(url, "digits", "v1", artifact, sha256=digest) == (
        201,
        {"name": "digits", "version": "v1", "sha256": digest, "bytes": len(artifact)},
    )
    assert put_model(url, "digits", "v1", artifact)[0] == 200  # the same bytes again: kept already, nothing written
    assert put_model(url, "digits", "v2", b"other")[0] == 201
    kept = [(m["name"], m["version"]) for m in get(url + "/v1/models")["models"]]
    assert kept == [("digits", "v1"), ("digits", "v2")]
    with urllib.request.urlopen(url + "/v1/models/digits/v1", timeout=5) as answer:
        assert answer.read() == artifact


@pytest.mark.parametrize(
    ("name", "version", "data", "sha256", "status", "reason"),
    [
        ("digits", "v1", b"changed", None, 409, "immutable"),
        ("digits", "v3", b"sent", "0" * 64, 400, "damaged on the way"),
        ("..", "v3", b"x", None, 400, "bad model name"),
        ("digits", ".hidden", b"x", None, 400, "bad model name"),
    ],
    ids=["other-bytes-same-version", "checksum-mismatch", "dot-dot", "dot-version"],
)
def test_a_changed_version_a_damaged_body_or_a_bad_name_is_refused_and_nothing_changes(
    store, name, version, data, sha256, status, reason
):
    running, url = store
    kept = b"the v1 artifact"
    assert put_model(url, "digits", "v1", kept)[0] == 201
    answer = put_model(url, name, version, data, sha256=sha256)
    assert answer[0] == status and reason in answer[1]["error"], answer
    assert [(m["name"], m["version"]) for m in get(url + "/v1/models")["models"]] == [("digits", "v1")]
    assert (running.path.parent / "models" / "digits" / "v1" / "artifact").read_bytes() == kept


def test_a_model_version_cut_off_before_its_meta_is_removed_at_start_up(tmp_path):
    root = tmp_path / "data" / "models"
    archive = sample_store.ModelArchive(root)
    assert archive.put("digits", "v1", b"whole") is True
    (root / "digits" / "v2").mkdir()
    (root / "digits" / "v2" / "artifact").write_bytes(b"torn")  # power cut before meta.json: never acknowledged
    again = sample_store.ModelArchive(root)
    assert [m["version"] for m in again.list()] == ["v1"]
    assert not (root / "digits" / "v2").exists()
    assert again.put("digits", "v2", b"now whole") is True


def test_a_model_version_the_store_could_not_sync_is_not_acknowledged(store, monkeypatch):
    _running, url = store

    def broken_fsync(_fd):
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(sample_store.os, "fsync", broken_fsync)
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        put_model(url, "digits", "v1", b"bytes")
    monkeypatch.undo()
    assert get(url + "/v1/models")["models"] == []
