# SPDX-License-Identifier: GPL-3.0-or-later
"""The kubelet's pod sync for this node: for each pod bound here, start its containers from the node's images
(pull policy, pull back-off), run probes, restart per restartPolicy with CrashLoopBackOff, stop pods being deleted
(SIGTERM, SIGKILL after the grace period, then confirm the deletion) and report the pod status when it changes."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Callable, Protocol

from .. import kubeclient
from ..controllers.actions import Action, apply, status_update
from ..controllers.podutil import parse
from . import csi, files, images, status
from . import env as env_module
from .probes import Prober, check
from .runtime import EXITED, Runtime

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BACKOFF_START, BACKOFF_MAX, BACKOFF_RESET = 10, 300, 600
FORCE = {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0}


class PodNetwork(Protocol):
    def attach(self, uid: str, pod_cidr: str) -> str: ...
    def detach(self, uid: str) -> None: ...
    def netns(self, uid: str) -> str | None: ...


class Kubelet:
    def __init__(
        self,
        client: kubeclient.KubeClient,
        runtime: Runtime,
        network: PodNetwork,
        node_name: str,
        node_ip: str,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.client, self.runtime, self.network = client, runtime, network
        self.node_name, self.node_ip, self.clock = node_name, node_ip, clock
        self.probers: dict[tuple[str, str, str], Prober] = {}
        self.pull_backoff: dict[tuple[str, str], tuple[float, float]] = {}  # -> (until, delay)
        self.stopping: dict[str, float] = {}  # pod uid -> kill deadline
        self.termed: set[tuple[str, str]] = set()
        self.dns_ip: str | None = None
        self.pod_count = 0  # pods bound to this node at the last sync
        self.view: tuple[list[dict], str | None, list[dict]] | None = None  # (pods, podCIDR, services)
        self.csi = None  # kubelet/csi.Csi: CSI volumes (mayastor), where the node has them

    # -- the loop -------------------------------------------------------------------------------------------------
    def sync(self, refresh: bool = True) -> None:
        """One round. `refresh`: read this node's pods, its podCIDR and the services from the API server again;
        otherwise the last ones are used (kubelite refreshes when the datastore reports a change of pods, and
        every few seconds)."""
        if refresh or self.view is None:
            pods = [
                p
                for p in self.client.list("pods", field_selector=f"spec.nodeName={self.node_name}")
                if p["spec"].get("nodeName") == self.node_name
            ]
            me = self.client.get("nodes", self.node_name) or {}
            services = self.client.list("services")
            self.view = (pods, (me.get("spec") or {}).get("podCIDR"), services)
            self.dns_ip = files.cluster_dns(services)
        pods, pod_cidr, services = self.view
        self.pod_count = len(pods)
        listing = Lazy(self.runtime.images)  # `ctr images ls` only when a container has to start
        for pod in pods:
            try:
                self.sync_pod(pod, pod_cidr, listing, services)
            except (OSError, kubeclient.ApiError) as error:
                print(f"pod {pod['metadata']['name']}: {error}", file=sys.stderr, flush=True)
        known = {p["metadata"]["uid"] for p in pods}
        for uid in self.runtime.pod_uids():
            if uid not in known:  # deleted without waiting for us (force delete): stop what is left
                self.stop_pod(uid, self.remembered_grace(uid))
        if self.csi is not None:
            try:
                self.csi.report()
            except (OSError, kubeclient.ApiError) as error:
                print(f"volumesInUse: {error}", file=sys.stderr, flush=True)

    def sync_pod(self, pod: dict, pod_cidr: str | None, listing: dict[str, str], services: list[dict]) -> None:
        meta, uid = pod["metadata"], pod["metadata"]["uid"]
        if meta.get("deletionTimestamp"):
            grace = meta.get("deletionGracePeriodSeconds", pod["spec"].get("terminationGracePeriodSeconds", 30))
            if self.stop_pod(uid, grace):
                apply(self.client, [Action("delete", "pods", meta["namespace"], meta["name"], FORCE)])
            return
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            self.stop_pod(uid, 0)
            return
        self.remember(pod)
        pod_ip = self.network.attach(uid, pod_cidr) if pod_cidr else None
        visible = dict(pod, status=dict(pod.get("status") or {}, podIP=pod_ip or "", hostIP=self.node_ip))
        namespace_services = [
            s
            for s in services
            if s["metadata"]["namespace"] == meta["namespace"]
            or (s["metadata"]["namespace"], s["metadata"]["name"]) == ("default", "kubernetes")
        ]
        statuses = [
            self.sync_container(visible, c, pod_ip, listing, namespace_services) for c in pod["spec"]["containers"]
        ]
        start_time = (pod.get("status") or {}).get("startTime") or status.now_stamp()
        wanted = status.pod_status(pod, statuses, pod_ip, self.node_ip, start_time, status.now())
        apply(self.client, status_update("pods", pod, wanted))

    # -- containers -----------------------------------------------------------------------------------------------
    def sync_container(
        self, pod: dict, container: dict, pod_ip: str | None, listing: dict[str, str], services: list[dict]
    ) -> dict:
        uid, name = pod["metadata"]["uid"], container["name"]
        record = self.runtime.record(uid, name) or {}
        if record.get("containerID"):
            current = self.runtime.state(uid, name, record)
            if current["state"] != EXITED:
                return self.running(pod, container, record, pod_ip)
            record = self.note_exit(uid, name, record, current)
            if not self.restarts(pod, record["last"]["exitCode"]):
                state = {"terminated": record["last"]}
                return status.container_status(container, dict(record, last=None), state, False, False)
            if time.time() < record.get("backoffUntil", 0):
                delay = record["backoffDelay"]
                pod_ref = f"{pod['metadata']['name']}_{pod['metadata']['namespace']}({uid})"
                text = f"back-off {delay}s restarting failed container={name} pod={pod_ref}"
                return status.container_status(
                    container, record, status.waiting("CrashLoopBackOff", text), False, False
                )
        reason = self.start(pod, container, pod_ip, listing, services, record)
        if reason:
            return status.container_status(container, record, status.waiting(*reason), False, False)
        return self.running(pod, container, self.runtime.record(uid, name), pod_ip)

    def restarts(self, pod: dict, exit_code: int) -> bool:
        policy = pod["spec"].get("restartPolicy", "Always")
        return policy == "Always" or (policy == "OnFailure" and exit_code != 0)

    def note_exit(self, uid: str, name: str, record: dict, ended: dict) -> dict:
        """Once per exit: keep it as lastState and set the restart back-off (none the first time, then 10 s
        doubling to 300 s; reset after 10 minutes of running)."""
        last = status.terminated(ended, record)
        if record.get("last", {}).get("containerID") == last["containerID"]:
            return record
        ran = (parse(last["finishedAt"]) - parse(last["startedAt"])).total_seconds()
        previous = record.get("backoffDelay")
        delay = 0 if previous is None or ran > BACKOFF_RESET else min(max(previous * 2, BACKOFF_START), BACKOFF_MAX)
        updated = dict(record, last=last, backoffDelay=delay, backoffUntil=time.time() + delay)
        self.runtime.save(uid, name, updated)
        self.forget_probes(uid, name)
        return updated

    def start(
        self, pod: dict, container: dict, pod_ip: str | None, listing: dict, services: list[dict], record: dict
    ) -> tuple[str, ...] | None:
        """Start the container; a (reason, message) to wait with when it cannot start yet."""
        uid, name, image = pod["metadata"]["uid"], container["name"], container["image"]
        if pod_ip is None:
            return ("ContainerCreating",)
        try:  # volumes are attached and mounted before images are pulled (the kubelet's WaitForAttachAndMount)
            binds = self.managed_files(pod, pod_ip) + self.binds(pod, container)
        except VolumeNotReady:
            return ("ContainerCreating",)
        ref = images.find(image, listing)
        pull = images.needs_pull(container, ref is not None)
        if pull is None:
            return ("ErrImageNeverPull", images.never_pull_message(image))
        if pull:
            return self.pull_failed(uid, name, image)
        self.pull_backoff.pop((uid, name), None)
        config = self.runtime.image_config(listing[ref])
        try:
            variables = env_module.environment(pod, container, config["config"].get("Env") or [], services, self.lookup)
        except env_module.ConfigError as error:
            return ("CreateContainerConfigError", str(error))
        argv = env_module.command(container, config["config"], variables)
        if not argv:
            return ("CreateContainerError", "failed to generate container spec: no command specified")
        hostname = pod["spec"].get("hostname") or pod["metadata"]["name"]
        launch = {
            "argv": argv,
            "env": {"PATH": DEFAULT_PATH, "HOSTNAME": hostname, **variables},  # containerd's defaults first
            "workdir": container.get("workingDir") or config["config"].get("WorkingDir") or "/",
            "hostname": hostname,
            "binds": binds,
            **user_ids(pod, container, config["config"]),
        }
        facts = dict(record, image=ref, imageID=config["id"])
        self.runtime.start(uid, name, ref, launch, self.network.netns(uid), facts)
        self.forget_probes(uid, name)
        return None

    def pull_failed(self, uid: str, name: str, image: str) -> tuple[str, str]:
        """No registry answers: ErrImagePull when a pull is tried, ImagePullBackOff until the back-off expires."""
        now = self.clock()
        until, delay = self.pull_backoff.get((uid, name), (0.0, 0.0))
        if now < until:
            return ("ImagePullBackOff", images.backoff_message(image))
        delay = min(max(delay * 2, BACKOFF_START), BACKOFF_MAX)
        self.pull_backoff[(uid, name)] = (now + delay, delay)
        return ("ErrImagePull", images.pull_error(image))

    # -- probes ---------------------------------------------------------------------------------------------------
    def running(self, pod: dict, container: dict, record: dict, pod_ip: str | None) -> dict:
        uid, name = pod["metadata"]["uid"], container["name"]
        started = self.probe(pod, container, "startupProbe", True, pod_ip)
        alive = self.probe(pod, container, "livenessProbe", True, pod_ip) if started else True
        ready = self.probe(pod, container, "readinessProbe", False, pod_ip) if started else False
        if not alive:
            self.runtime.stop(uid, name, force=True)
        state = {"running": {"startedAt": record["startedAt"]}}
        return status.container_status(container, record, state, ready and alive, started)

    def probe(self, pod: dict, container: dict, kind: str, initial: bool, pod_ip: str | None) -> bool:
        """The probe's current result (no probe: always succeeds), probing when due."""
        definition = container.get(kind)
        if not definition:
            return True
        uid, name = pod["metadata"]["uid"], container["name"]
        prober = self.probers.setdefault((uid, name, kind), Prober(definition, self.clock(), initial))
        now = self.clock()
        if prober.due(now):

            def run_exec(argv: list[str], timeout: float) -> int:
                return self.runtime.exec(uid, name, argv, timeout)

            return prober.record(check(definition, pod_ip or "", container, run_exec), now)
        return prober.result

    def forget_probes(self, uid: str, name: str) -> None:
        for key in [k for k in self.probers if k[:2] == (uid, name)]:
            del self.probers[key]

    # -- stopping -------------------------------------------------------------------------------------------------
    def stop_pod(self, uid: str, grace: float) -> bool:
        """SIGTERM every running container once, SIGKILL after the grace period; True once all stopped and the
        pod's containers and network are gone."""
        alive = [
            name
            for name in self.runtime.containers(uid)
            if (record := self.runtime.record(uid, name))
            and record.get("containerID")
            and self.runtime.state(uid, name, record)["state"] != EXITED
        ]
        if not alive:
            if self.csi is not None:
                self.csi.unmount(uid)
            self.runtime.remove(uid)
            self.network.detach(uid)
            self.stopping.pop(uid, None)
            self.termed = {k for k in self.termed if k[0] != uid}
            for name in {k[1] for k in self.probers if k[0] == uid}:
                self.forget_probes(uid, name)
            return True
        deadline = self.stopping.setdefault(uid, self.clock() + grace)
        for name in alive:
            force = self.clock() >= deadline
            if force or (uid, name) not in self.termed:
                self.runtime.stop(uid, name, force=force)
                self.termed.add((uid, name))
        return False

    def remember(self, pod: dict) -> None:
        """What stopping needs once the pod object is gone: its grace period."""
        path = self.runtime.state_dir / pod["metadata"]["uid"] / "pod.json"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({"grace": pod["spec"].get("terminationGracePeriodSeconds", 30)}))

    def remembered_grace(self, uid: str) -> float:
        path = self.runtime.state_dir / uid / "pod.json"
        return json.loads(path.read_text())["grace"] if path.exists() else 0

    # -- volumes and lookups --------------------------------------------------------------------------------------
    def lookup(self, kind: str, namespace: str, name: str) -> dict | None:
        return self.client.get(kind, name, namespace=namespace)

    def binds(self, pod: dict, container: dict) -> list[dict]:
        """The container's volumeMounts: emptyDir, configMap and secret volumes as files in the pod's state dir
        (written at start, not updated later), hostPath as is, a persistentVolumeClaim's bound volume (hostPath or
        local) on this node; VolumeNotReady while a claim is not bound to a volume this node can mount."""
        volumes = {v["name"]: v for v in pod["spec"].get("volumes") or []}
        pod_dir = self.runtime.state_dir / pod["metadata"]["uid"] / "volumes"
        binds = []
        for mount in container.get("volumeMounts") or []:
            volume = volumes.get(mount["name"], {})
            if volume.get("hostPath"):
                source = volume["hostPath"]["path"]
            elif volume.get("persistentVolumeClaim"):
                source = self.claimed(pod, volume["persistentVolumeClaim"].get("claimName", ""))
            elif any(volume.get(k) for k in ("emptyDir", "configMap", "secret")):
                source = str(self.fill_volume(pod, volume, pod_dir / volume["name"]))
            else:
                continue  # projected service account tokens and others are not modelled
            if mount.get("subPath"):
                source = f"{source}/{mount['subPath']}"
            binds.append({"source": source, "target": mount["mountPath"], "readOnly": bool(mount.get("readOnly"))})
        return binds

    def claimed(self, pod: dict, claim_name: str) -> str:
        """The directory of a claim's volume: a hostPath volume's directory is made on this node when missing (as
        the hostpath provisioner does for its volumes), a local volume's must exist."""
        claim = self.lookup("persistentvolumeclaims", pod["metadata"]["namespace"], claim_name)
        if not claim or (claim.get("status") or {}).get("phase") != "Bound":
            raise VolumeNotReady(claim_name)
        volume = self.client.get("persistentvolumes", (claim.get("spec") or {}).get("volumeName") or "") or {}
        spec = volume.get("spec") or {}
        if spec.get("hostPath"):
            path = Path(spec["hostPath"]["path"])
            path.mkdir(parents=True, exist_ok=True)
            return str(path)
        if spec.get("local") and Path(spec["local"]["path"]).is_dir():
            return spec["local"]["path"]
        if spec.get("csi") and self.csi is not None:
            try:
                return self.csi.mount(pod, volume)
            except csi.NotReady as waiting:
                raise VolumeNotReady(str(waiting)) from None
        raise VolumeNotReady(claim_name)

    def managed_files(self, pod: dict, pod_ip: str) -> list[dict]:
        """/etc/hosts and /etc/resolv.conf, written in the pod's state dir and mounted over the image's."""
        pod_dir = self.runtime.state_dir / pod["metadata"]["uid"]
        node_resolv = files.NODE_RESOLV.read_text() if files.NODE_RESOLV.exists() else ""
        written = {
            "etc-hosts": ("/etc/hosts", files.hosts(pod, pod_ip)),
            "resolv.conf": ("/etc/resolv.conf", files.resolv_conf(pod, self.dns_ip, node_resolv)),
        }
        binds = []
        for name, (target, text) in written.items():
            (pod_dir / name).write_text(text)
            binds.append({"source": str(pod_dir / name), "target": target, "readOnly": False})
        return binds

    def fill_volume(self, pod: dict, volume: dict, where: Path) -> Path:
        where.mkdir(parents=True, exist_ok=True)
        kind = "configmaps" if volume.get("configMap") else "secrets" if volume.get("secret") else None
        if kind:
            source = volume.get("configMap") or volume["secret"]
            obj = self.lookup(kind, pod["metadata"]["namespace"], source.get("name") or source.get("secretName"))
            data = dict((obj or {}).get("data") or {})
            if kind == "secrets":
                data = {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}
            items = source.get("items") or [{"key": k, "path": k} for k in data]
            for item in items:
                if item["key"] in data:
                    target = where / item["path"]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(data[item["key"]])
        return where


class VolumeNotReady(Exception):
    """A volume the container mounts cannot be mounted yet (its claim is unbound or its volume not here)."""


def user_ids(pod: dict, container: dict, image_config: dict) -> dict:
    """runAsUser/runAsGroup (container over pod), else the image's numeric `User` (`uid[:gid]`); names are not
    resolved (root then)."""
    context = dict(pod["spec"].get("securityContext") or {}, **(container.get("securityContext") or {}))
    user, _sep, group = (image_config.get("User") or "").partition(":")
    uid = context.get("runAsUser", int(user) if user.isdigit() else None)
    gid = context.get("runAsGroup", int(group) if group.isdigit() else None)
    return {"uid": uid, "gid": gid}


class Lazy(Mapping):
    """A mapping computed on first use."""

    def __init__(self, load):
        self.load, self.value = load, None

    def data(self) -> dict:
        if self.value is None:
            self.value = self.load()
        return self.value

    def __getitem__(self, key):
        return self.data()[key]

    def __iter__(self):
        return iter(self.data())

    def __len__(self) -> int:
        return len(self.data())
