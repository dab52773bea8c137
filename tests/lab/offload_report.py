#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""`make offload-report`: the AI offload system's evidence, against a running lab (make lab-up + site.yml).

Trains both models (scikit-learn's bundled digits) and builds the inference image offline (cached), as `lab.py up
--inference` does (labkit/offload.py, the same files). When the lab was brought up that way (`make lab`), site.yml
has deployed the service with v1: playbooks/offload_report.yml runs once with the inventory's values (nothing may
change) and writes the service's URL; otherwise it deploys v1 itself, then again (nothing may change). Installs the
device package on client1 (with numpy from the image's pinned wheels: the lab's containers have no route out), then
from client1 through the LoadBalancer:
records (every test input through the device model and the server), the server at a fixed request rate, simulated
devices running the cascade, the same load during a rolling model update (v1 -> v2) and during a node power-off.
When the lab also has names and TLS (tls_ingress_enabled in the inventory and the service published in
tls_ingress_apps, as the lab inventory does with the service on), the simulated devices also run through
https://inference.<domain> on the ingress address with the exported ca.pem and sensor1's certificate (the name
pinned in client1's /etc/hosts, as a device whose resolver points at the cluster's names sees it); a device without
a certificate is shown refused. The report lists which path each measurement took.
Writes reports/offload-<time>.{md,json,png}.

offload_report.py [--devices 8] [--rate 100] [--seconds 20] [--skip-rolling] [--skip-failover] [--skip-tls]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import pathlib
import re
import subprocess
import sys
import tarfile
import time

LAB_DIR = pathlib.Path(__file__).resolve().parent
ROOT = LAB_DIR.parents[1]
sys.path.insert(0, str(LAB_DIR))
sys.path.insert(0, str(ROOT / "device"))

import yaml  # noqa: E402
from labkit import offload  # noqa: E402
from labkit.shell import LabError, run, say, step  # noqa: E402
from onprem_device import promtext, report  # noqa: E402

CLIENT = "client1"
TLS_DIR = ROOT / "tls" / "lab"  # tls_ingress_dir of the lab inventory
TLS_DEVICE = "sensor1"  # one of the lab's tls_ingress_devices
SCRAPE = "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())"
KIT = "/opt/onprem-device"
WORK = ROOT / "build" / "offload"


@contextlib.contextmanager
def timed(result: dict, what: str):
    """A logged step whose seconds are kept in the report (where the wall time goes)."""
    began = time.monotonic()
    with step(what):
        yield
    result.setdefault("phases", []).append([what, round(time.monotonic() - began, 1)])


def playbook(models: list[dict] | None, archive: pathlib.Path | None, url_file: pathlib.Path | None) -> str:
    """Run playbooks/offload_report.yml (models and archive None: the inventory's; url_file None: the URL is not
    written, which would count as a change); returns its output (also echoed)."""
    extra: dict = {"offload_url_file": str(url_file)} if url_file else {}
    if models is not None:
        extra["inference_service_models"] = models
    if archive is not None:
        extra["inference_service_image_archive"] = str(archive)
    command = [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "playbooks/offload_report.yml"]
    command += ["-i", "inventories/lab", "-e", json.dumps(extra)]
    done = subprocess.run(command, cwd=ROOT, check=False, timeout=1200, capture_output=True, text=True)
    print(done.stdout[-3000:], done.stderr[-2000:], sep="\n")
    if done.returncode:
        raise LabError(f"ansible-playbook playbooks/offload_report.yml failed (rc={done.returncode})")
    return done.stdout


def changed_total(output: str) -> int:
    """Sum of changed=N over the PLAY RECAP lines."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output))


def service_url(name: str = "inference", namespace: str = "default") -> str:
    """The v2 API's address from the service's LoadBalancer Service (through the bootstrap node's kubectl)."""
    command = ["lxc", "exec", "node1", "--", "/snap/bin/microk8s", "kubectl", "get", "service", name, "-n", namespace]
    service = json.loads(run([*command, "-o", "json"]))
    address = service["status"]["loadBalancer"]["ingress"][0]["ip"]
    port = next(entry["port"] for entry in service["spec"]["ports"] if entry["name"] == "http")
    return f"http://{address}:{port}"


def deployed_by_site() -> bool:
    """Whether the lab's inventory enables the inference service (lab.py up --inference): site.yml deployed it."""
    hosts = ROOT / "inventories" / "lab" / "hosts.yml"
    variables = (yaml.safe_load(hosts.read_text()) or {}).get("all", {}).get("vars", {}) if hosts.exists() else {}
    return variables.get("inference_service_enabled") is True


def tls_route(name: str = "inference", namespace: str = "default") -> dict:
    """The TLS path to the service when the lab has one: {url, host, address}; else {reason}."""
    group_vars = yaml.safe_load((ROOT / "inventories" / "lab" / "group_vars" / "all.yml").read_text()) or {}
    if group_vars.get("tls_ingress_enabled") is not True:
        return {"reason": "tls_ingress_enabled is not true in inventories/lab/group_vars/all.yml"}
    files = [TLS_DIR / "ca.pem", TLS_DIR / "devices" / f"{TLS_DEVICE}.crt", TLS_DIR / "devices" / f"{TLS_DEVICE}.key"]
    missing = [str(path) for path in files if not path.exists()]
    if missing:
        return {"reason": f"tls_ingress has not exported {', '.join(missing)}"}
    kubectl = ["lxc", "exec", "node1", "--", "/snap/bin/microk8s", "kubectl"]
    found = run([*kubectl, "get", "ingress", name, "-n", namespace, "-o", "json"], check=False)
    if not found.strip():
        return {"reason": f"no Ingress {namespace}/{name}: the service is not in tls_ingress_apps"}
    host = json.loads(found)["spec"]["rules"][0]["host"]
    selector = "onprem.microk8s/component=ingress"
    [front] = json.loads(run([*kubectl, "get", "services", "-A", "-l", selector, "-o", "json"]))["items"]
    address = front["status"]["loadBalancer"]["ingress"][0]["ip"]
    return {"url": f"https://{host}", "host": host, "address": address}


def tls_phase(args: argparse.Namespace, result: dict, lb_url: str) -> None:
    """The simulated devices through the ingress by name over TLS with a device certificate, when the lab has it."""
    lb = f"plain http to the service's own LoadBalancer address ({lb_url})"
    paths = [f"records, server latency at a fixed rate, cascade and the drills that ran: {lb}"]
    result["paths"] = paths
    try:
        route = tls_route()
    except (LabError, ValueError, KeyError, IndexError) as exc:
        route = {"reason": f"the ingress could not be read: {str(exc)[-300:]}"}
    if "url" not in route:
        paths.append(f"TLS through the ingress: not measured ({route['reason']})")
        return
    url, remote = route["url"], f"{KIT}/tls"
    what = (
        f"cascade over TLS: {url} on the ingress address {route['address']} (mutual TLS: the cluster CA's ca.pem, "
        f"device certificate {TLS_DEVICE}; the name pinned in {CLIENT}'s /etc/hosts)"
    )
    creds = ["--ca-file", f"{remote}/ca.pem"]
    creds += ["--cert-file", f"{remote}/{TLS_DEVICE}.crt", "--key-file", f"{remote}/{TLS_DEVICE}.key"]
    try:
        with timed(result, f"{args.devices} devices running the cascade for {args.seconds:.0f} s over TLS ({url})"):
            escaped = route["host"].replace(".", r"\.")
            pin = f"sed -i '/ {escaped}$/d' /etc/hosts && echo '{route['address']} {route['host']}' >> /etc/hosts"
            run(["lxc", "exec", CLIENT, "--", "sh", "-c", pin])
            run(["lxc", "exec", CLIENT, "--", "install", "-d", "-m", "0700", remote])
            for local in ("ca.pem", f"devices/{TLS_DEVICE}.crt", f"devices/{TLS_DEVICE}.key"):
                target = f"{CLIENT}{remote}/{pathlib.PurePath(local).name}"
                run(["lxc", "file", "push", "--mode", "0600", str(TLS_DIR / local), target])
            check = ["lxc", "exec", CLIENT, "--env", f"PYTHONPATH={KIT}/lib", "--", "python3", "-m"]
            check += ["onprem_device", "check", "--server", url, "--timeout", "3"]
            refused = json.loads(run([*check, "--ca-file", f"{remote}/ca.pem"], check=False) or "{}")
            deadline = time.monotonic() + 60  # the certificate is issued and nginx reloads after the Ingress
            while True:
                ready = json.loads(run([*check, *creds], check=False) or "{}")
                if ready.get("model_ready") or time.monotonic() > deadline:
                    break
                time.sleep(3)
            if not ready.get("model_ready"):
                raise LabError(f"{url} did not answer a device with its certificate within 60 s: {ready}")
            section = report.devices_section(
                loadtest("devices", url, "--devices", str(args.devices), "--seconds", str(args.seconds), *creds)
            )
    except LabError as exc:
        paths.append(f"{what}: FAILED ({str(exc)[-300:]})")
        result["cascade_tls"] = {"error": str(exc)[-1000:]}
        return
    without = "refused" if refused.get("ready") is False else f"NOT refused ({refused})"
    paths.append(f"{what}; a device without a certificate: {without}")
    result["cascade_tls"] = {**section, "url": url, "address": route["address"], "refused_without_cert": without}


def device_kit(models_dir: pathlib.Path, site: pathlib.Path) -> bytes:
    """onprem_device, numpy (the image's pinned wheel, cp311 manylinux), the device model and the test split."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(ROOT / "device" / "onprem_device", "lib/onprem_device", filter=_no_cache)
        for entry in sorted(site.iterdir()):
            if entry.name == "numpy" or entry.name == "numpy.libs" or entry.name.startswith("numpy-"):
                tar.add(entry, f"lib/{entry.name}", filter=_no_cache)
        tar.add(models_dir / "device", "model")
        tar.add(models_dir / "test.npz", "test.npz")
    return buffer.getvalue()


def _no_cache(info: tarfile.TarInfo):
    return None if "__pycache__" in info.name or "/tests/" in info.name else info


def on_client(args: list[str], timeout: float = 600) -> str:
    command = ["lxc", "exec", CLIENT, "--env", f"PYTHONPATH={KIT}/lib", "--", "python3", "-m", *args]
    return run(command, timeout=timeout)


def loadtest(mode: str, url: str, *extra: str, timeout: float = 600) -> dict:
    out = f"/tmp/offload-{mode}.json"
    command = ["onprem_device.loadtest", mode, "--server", url, "--model", f"{KIT}/model"]
    on_client([*command, "--data", f"{KIT}/test.npz", "--out", out, *extra], timeout)
    return json.loads(run(["lxc", "exec", CLIENT, "--", "cat", out]))


def start_devices(url: str, devices: int, seconds: float, name: str, stop_file: str | None = None) -> subprocess.Popen:
    command = ["lxc", "exec", CLIENT, "--env", f"PYTHONPATH={KIT}/lib", "--", "python3", "-m"]
    command += ["onprem_device.loadtest", "devices", "--server", url, "--model", f"{KIT}/model"]
    command += ["--data", f"{KIT}/test.npz", "--devices", str(devices), "--seconds", str(seconds)]
    command += ["--out", f"/tmp/offload-{name}.json"] + (["--stop-file", stop_file] if stop_file else [])
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen, name: str, timeout: float) -> dict:
    _out, err = process.communicate(timeout=timeout)
    if process.returncode:
        raise LabError(f"the devices ({name}) failed: {err.decode()[-500:]}")
    return json.loads(run(["lxc", "exec", CLIENT, "--", "cat", f"/tmp/offload-{name}.json"]))


def replicas(name: str = "inference", namespace: str = "default") -> list[dict]:
    """The service's running pods: name, node, pod IP (through the bootstrap node's kubectl)."""
    command = ["lxc", "exec", "node1", "--", "/snap/bin/microk8s", "kubectl", "get", "pods", "-n", namespace]
    pods = json.loads(run([*command, "-l", f"app.kubernetes.io/name={name}", "-o", "json"]))["items"]
    return [
        {"name": pod["metadata"]["name"], "node": pod["spec"].get("nodeName"), "ip": pod["status"].get("podIP")}
        for pod in pods
        if not pod["metadata"].get("deletionTimestamp") and pod.get("status", {}).get("phase") == "Running"
    ]


def scrape_replicas(pods: list[dict]) -> list[str]:
    """Each replica's own /metrics, read on its node (pod addresses are routed on the nodes)."""
    url = "http://{ip}:8082/metrics"
    return [run(["lxc", "exec", pod["node"], "--", "python3", "-c", SCRAPE, url.format(**pod)]) for pod in pods]


def server_side(before: list[str], after: list[str]) -> dict:
    """MLServer's own request duration (its REST histogram, infer path, summed over the replicas) between two
    scrapes: the time inside the server, without the client, the network and the node's proxy."""
    name, match = "rest_server_request_duration_seconds", {"path": "/v2/models/{model_name}/infer"}
    between = promtext.difference(promtext.histogram(after, name, **match), promtext.histogram(before, name, **match))
    ms = {
        f"p{q}_ms": (value * 1000 if (value := promtext.quantile(between, q / 100)) is not None else None)
        for q in (50, 95, 99)
    }
    bounds = [bound for bound in between["buckets"] if bound != float("inf")]
    bound = promtext.bucket_bound(between, 0.95)
    return {
        "requests": between["count"],
        "mean_ms": between["sum"] / between["count"] * 1000 if between["count"] else None,
        **ms,
        "p95_bucket_bound_ms": bound * 1000 if bound is not None else None,
        "bucket_bounds_ms": [bound * 1000 for bound in bounds],
    }


def announcing_node(address: str) -> str:
    """The node whose interface holds the LoadBalancer address (MetalLB layer 2's announcer in the lab)."""
    for node in json.loads(run(["lxc", "list", "--format", "json"])):
        name = node["name"]
        if not name.startswith("node") or node["status"] != "Running":
            continue
        if f"inet {address}/" in run(["lxc", "exec", name, "--", "ip", "-4", "addr", "show"]):
            return name
    raise LabError(f"no running node holds {address}")


def train_models(result: dict) -> None:
    with timed(result, "training the device and server models (digits)"):
        result["training"] = offload.train_v1()
        offload.train_v2()


def lab_phases(args: argparse.Namespace, result: dict) -> None:
    """Deploy in the lab, devices on client1, rolling update, metrics, power cut."""
    with timed(result, "building the inference image (cached)"):
        archive = offload.server_image()
    result["image_archive_mb"] = round(archive.stat().st_size / 1e6, 1)
    site = offload.site_packages()  # numpy for the device kit
    url_file = WORK / "url.txt"
    if deployed_by_site():
        result["deployed_by"] = "site.yml (the lab inventory enables it: lab.py up --inference)"
        with timed(result, "the service site.yml deployed, with the inventory's values: nothing may change"):
            result["idempotent_changed"] = changed_total(playbook(None, None, None))
        url = service_url()
    else:
        result["deployed_by"] = "playbooks/offload_report.yml (the lab inventory leaves it off)"
        v1 = offload.served("v1")
        with timed(result, "deploying the inference service (v1)"):
            playbook(v1, archive, url_file)
        with timed(result, "the same deployment again: nothing may change"):
            result["idempotent_changed"] = changed_total(playbook(v1, archive, url_file))
        url = url_file.read_text().strip()
    say(f"service: {url}")
    with timed(result, f"installing the device package on {CLIENT}"):
        (WORK / "device-kit.tar.gz").write_bytes(device_kit(offload.MODELS, site))
        run(["lxc", "exec", CLIENT, "--", "rm", "-rf", KIT])
        run(["lxc", "exec", CLIENT, "--", "mkdir", "-p", KIT])
        run(["lxc", "file", "push", str(WORK / "device-kit.tar.gz"), f"{CLIENT}/tmp/device-kit.tar.gz"])
        run(["lxc", "exec", CLIENT, "--", "tar", "-xzf", "/tmp/device-kit.tar.gz", "-C", KIT])
        on_client(["onprem_device", "check", "--server", url])
    with timed(result, "records: every test input through the device model and through the service"):
        result["accuracy"] = report.accuracy_section(loadtest("records", url))
    with timed(result, f"the service at {args.rate:.0f} requests/s for {args.seconds:.0f} s (open loop from {CLIENT})"):
        pods = replicas()
        before = scrape_replicas(pods)
        result["rate"] = loadtest("rate", url, "--rate", str(args.rate), "--seconds", str(args.seconds))
        result["rate"]["server"] = server_side(before, scrape_replicas(pods))
        result["rate"]["replicas"] = len(pods)
    with timed(result, f"{args.devices} devices running the cascade for {args.seconds:.0f} s"):
        result["cascade"] = report.devices_section(
            loadtest("devices", url, "--devices", str(args.devices), "--seconds", str(args.seconds))
        )
    if not args.skip_tls:
        tls_phase(args, result, url)
    if not args.skip_rolling:
        with timed(result, "rolling model update v1 -> v2 under device load"):
            run(["lxc", "exec", CLIENT, "--", "rm", "-f", "/tmp/offload-stop"])
            process = start_devices(url, args.devices, 900, "rolling", stop_file="/tmp/offload-stop")
            time.sleep(5)
            began = time.time()
            playbook(offload.served("v2"), archive, url_file)
            took = time.time() - began
            time.sleep(12)  # the old replicas drain (5 s) and stop after the rollout is reported done
            run(["lxc", "exec", CLIENT, "--", "touch", "/tmp/offload-stop"])
            section = report.devices_section(finish(process, "rolling", 120))
        section["what"] = (
            f"ansible-playbook playbooks/offload_report.yml with digits v2 (a new ConfigMap; every successor "
            f"starts at once, maxSurge 100 %, maxUnavailable 0, each old replica drains before it stops) while "
            f"{args.devices} devices ran the cascade: the update took {took:.0f} s; a failed request is an "
            "offload that fell back to the device's answer."
        )
        result["rolling"] = section
    with timed(result, "the service's metrics (Prometheus format) from client1"):
        metrics_url = url.rsplit(":", 1)[0] + ":8082/metrics"
        text = run(["lxc", "exec", CLIENT, "--", "python3", "-c", SCRAPE, metrics_url])
        wanted = ("inference_model_info", "model_infer_request_success_total", "model_infer_request_duration_count")
        result["metrics"] = [line for line in text.splitlines() if line.startswith(wanted)][:12]
    if not args.skip_failover:
        address = url.split("//")[1].split(":")[0]
        announcer = announcing_node(address)
        holding = sorted({pod["node"] for pod in replicas()})
        # a node holding replicas; the one announcing the address if it holds one (both failures at once)
        victim = announcer if announcer in holding or not holding else holding[0]
        role = "holds replicas" + (f" and announces {address}" if victim == announcer else "")
        with timed(result, f"failover drill: power cut of {victim} ({role}) under device load"):
            process = start_devices(url, args.devices, args.drill_seconds, "failover")
            time.sleep(10)
            cut = time.time()
            run(["lxc", "stop", "--force", victim])
            drill = finish(process, "failover", args.drill_seconds + 120)
            run(["lxc", "start", victim])
        section = report.devices_section(drill, (cut, cut + args.window))
        section["what"] = (
            f"{victim} ({role}; replicas on {', '.join(holding)}) powered off with `lxc stop --force` "
            f"10 s into {args.drill_seconds:.0f} s of device load; failure window = {args.window:.0f} s after "
            "the cut."
        )
        result["failover"] = section


def direct_phases(args: argparse.Namespace, result: dict) -> None:
    """Against a running service anywhere (--server): the devices run here, in threads; no deployment, rolling
    update or power cut (those need the lab)."""
    import numpy as np
    from onprem_device import loadtest as lt
    from onprem_device.model import DeviceModel

    model = DeviceModel.load(offload.MODELS / "device")
    data = np.load(offload.MODELS / "test.npz")
    x, y = data["x"].astype(np.float64), data["y"]
    result["lab"] = f"simulated devices on this machine against {args.server}"
    result["where"] = f"from this machine to {args.server}"
    with step("records: every test input through the device model and through the service"):
        result["accuracy"] = report.accuracy_section(lt.records(args.server, model, x, y, "digits", 0.3))
    with step(f"the service at {args.rate:.0f} requests/s for {args.seconds:.0f} s"):
        result["rate"] = lt.rate(args.server, "digits", x, args.rate, args.seconds, 64, 2.0)
    with step(f"{args.devices} devices running the cascade for {args.seconds:.0f} s"):
        found = lt.devices(args.server, model, x, y, "digits", 0.3, args.devices, args.seconds, 0.05)
        result["cascade"] = report.devices_section(found)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="offload_report.py", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=8, help="simulated devices (threads on client1)")
    parser.add_argument("--rate", type=float, default=100, help="requests per second for the server latency")
    parser.add_argument("--seconds", type=float, default=20, help="length of the rate and device phases")
    parser.add_argument("--drill-seconds", type=float, default=60, help="device load during the failover drill")
    parser.add_argument("--window", type=float, default=30, help="seconds after the power cut counted as the failure")
    parser.add_argument("--skip-rolling", action="store_true")
    parser.add_argument("--skip-failover", action="store_true")
    parser.add_argument("--skip-tls", action="store_true", help="not the device path over TLS through the ingress")
    parser.add_argument("--server", help="no lab: measure this running service from here (records, rate, devices)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out_dir = ROOT / "reports"
    out_dir.mkdir(exist_ok=True)
    WORK.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "lab": "4 LXD nodes with the microk8s test double, client1; 2-core host",
        "where": "from client1 through the LoadBalancer address",
    }
    try:
        train_models(result)
        if args.server:
            direct_phases(args, result)
        else:
            lab_phases(args, result)
    except (LabError, OSError, subprocess.SubprocessError, ValueError) as exc:
        print(f"offload_report.py: {exc}", file=sys.stderr)
        result["error"] = str(exc)[-2000:]
        if "accuracy" not in result:
            return 1
        status = 1  # what was measured before the failure is still written, marked incomplete
    else:
        status = 0
    result["took_s"] = time.monotonic() - started
    base = out_dir / f"offload-{stamp}"
    (base.with_suffix(".json")).write_text(json.dumps(result, indent=2))
    phases = "; ".join(f"{what} {seconds:.0f} s" for what, seconds in result.get("phases", []))
    made = f"\nReport made in {result['took_s']:.0f} s" + (f" ({phases})" if phases else "") + ".\n"
    if "image_archive_mb" in result:
        made += f"Inference image archive: {result['image_archive_mb']:.0f} MB.\n"
    (base.with_suffix(".md")).write_text(report.markdown(result) + made)
    report.figure(result, base.with_suffix(".png"))
    print((base.with_suffix(".md")).read_text())
    say(f"written: {base}.md, .json, .png" + (" (INCOMPLETE: see its error)" if status else ""))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
