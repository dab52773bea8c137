# SPDX-License-Identifier: GPL-3.0-or-later
"""What the metallb and ingress addon scripts apply to the cluster (their `kubectl apply` of the addon manifests),
reduced to the objects the double's networking acts on: MetalLB's `metallb-system/config` ConfigMap (address pools,
layer 2; the speakers run while it exists) and the ingress addon's `ingress` namespace, its
`nginx-load-balancer-microk8s-conf` ConfigMap (the controllers run while it exists), IngressClass `public` and (up to
1.34) the controller's DaemonSet, whose args say which address the Ingresses' status shows (controllers/
ingressstatus.py); and
hostpath-storage's (storage's before 1.24) StorageClass `microk8s-hostpath` (its provisioner runs while the addon is
enabled: controllers/volumes.py).
Every write goes through the API server, so an API that does not answer fails the script as kubectl would."""

from __future__ import annotations

import sys

from microk8s_double import datastore, kubeclient
from microk8s_double.api import certmanager
from microk8s_double.commands.common import Context
from microk8s_double.controllers import ingressstatus, services
from microk8s_double.network import INGRESS_CONFIG, INGRESS_NAMESPACE

HOSTPATH_CLASS = "microk8s-hostpath"
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"


def client(ctx: Context) -> kubeclient.KubeClient:
    return kubeclient.KubeClient.for_node(ctx)


def namespace(name: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def config_map(name: str, namespace_name: str, data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace_name},
            "data": data}  # fmt: skip


def metallb_config(ranges: str) -> dict:
    lines = ["address-pools:", "- name: default", "  protocol: layer2", "  addresses:"]
    lines += [f"  - {item.strip()}" for item in ranges.split(",")]
    return config_map(services.METALLB_CONFIG, services.METALLB_NAMESPACE, {"config": "\n".join(lines) + "\n"})


def hostpath_class(ctx: Context, policy: str = "Delete", default_class: str = "true") -> dict:
    """hostpath-storage's StorageClass `microk8s-hostpath` (storage.yaml): WaitForFirstConsumer from 1.24 (provisioner
    1.4, volumes pinned to the pod's node), Immediate before; reclaim policy and default-class flag from 1.25/1.29."""
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": HOSTPATH_CLASS, "annotations": {DEFAULT_CLASS: default_class}},
        "provisioner": "microk8s.io/hostpath",
    }
    if ctx.profile.since(25):
        storage_class["reclaimPolicy"] = policy
    if ctx.profile.since(24):
        storage_class["volumeBindingMode"] = "WaitForFirstConsumer"
    return storage_class


def storage_class(name: str, provisioner: str, mode: str, **extra) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": name},
            "provisioner": provisioner, "reclaimPolicy": "Delete", "volumeBindingMode": mode, **extra}  # fmt: skip


def openebs_classes(ctx: Context) -> list[dict]:
    """The openebs chart's classes: local hostpath (openebs.io/local, WaitForFirstConsumer) and Jiva (2.x chart,
    1.21-1.23: openebs-jiva-default by the iSCSI provisioner; 3.3.x, 1.24+: openebs-jiva-csi-default by the CSI
    driver, 3 replicas unless `-j`)."""
    hostpath = storage_class("openebs-hostpath", "openebs.io/local", "WaitForFirstConsumer")
    if ctx.profile.since(24):
        jiva = storage_class("openebs-jiva-csi-default", "jiva.csi.openebs.io", "Immediate",
                             allowVolumeExpansion=True,
                             parameters={"cas-type": "jiva", "policy": "openebs-jiva-default-policy"})  # fmt: skip
    else:
        jiva = storage_class("openebs-jiva-default", "openebs.io/provisioner-iscsi", "Immediate")
    return [hostpath, jiva]


def mayastor_classes() -> list[dict]:
    """The mayastor chart's classes: mayastor (1 replica), mayastor-2, mayastor-3 (io.openebs.csi-mayastor)."""
    return [
        storage_class(name, "io.openebs.csi-mayastor", "WaitForFirstConsumer",
                      parameters={"repl": str(replicas), "protocol": "nvmf", "ioTimeout": "60", "local": "true"})
        for name, replicas in (("mayastor", 1), ("mayastor-2", 2), ("mayastor-3", 3))
    ]  # fmt: skip


def enable_hostpath(ctx: Context, policy: str, default_class: str) -> None:
    run(ctx, [("storageclasses", hostpath_class(ctx, policy, default_class))], [])


def put(api: kubeclient.KubeClient, resource: str, obj: dict) -> None:
    """`kubectl apply` for objects the addon owns: create, replace what differs, leave the same alone."""
    meta = obj["metadata"]
    current = api.get(resource, meta["name"], meta.get("namespace"))
    if current is None:
        api.create(resource, obj)
    elif any(current.get(key) != value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata")):
        api.update(resource, dict(obj, metadata=dict(meta, resourceVersion=current["metadata"]["resourceVersion"])))


# The dns addon's ConfigMap (microk8s-resources/actions/coredns.yaml), $NAMESERVERS as the script's default. The
# double keeps it for those who edit it (users add server blocks, hosts); it runs no CoreDNS that would read it.
COREFILE = """.:53 {
    errors
    health {
      lameduck 5s
    }
    ready
    log . {
      class error
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
    }
    prometheus :9153
    forward . 8.8.8.8 8.8.4.4
    cache 30
    loop
    reload
    loadbalance
}
"""


def coredns_config() -> dict:
    found = config_map("coredns", "kube-system", {"Corefile": COREFILE})
    found["metadata"]["labels"] = {"addonmanager.kubernetes.io/mode": "EnsureExists", "k8s-app": "kube-dns"}
    return found


def enable_metallb(ctx: Context, ranges: str) -> None:
    run(ctx, [("namespaces", namespace(services.METALLB_NAMESPACE)), ("configmaps", metallb_config(ranges))], [])


def apply(ctx: Context, action: str, name: str) -> None:
    """The other addon side effects: ingress on and off, metallb off."""
    ingress_objects = [
        ("namespaces", namespace(INGRESS_NAMESPACE)),
        ("configmaps", config_map(INGRESS_CONFIG, INGRESS_NAMESPACE, {})),
        ("ingressclasses", {"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
                            "metadata": {"name": "public"}, "spec": {"controller": "k8s.io/ingress-nginx"}}),
    ]  # fmt: skip
    if not ctx.profile.since(35):  # the NGINX controller's DaemonSet (1.35+: Traefik's chart)
        ingress_objects.append(("daemonsets", ingressstatus.daemonset()))
    if (action, name) == ("enable", "cert-manager"):
        run(ctx, [("namespaces", namespace(certmanager.CLUSTER_RESOURCE_NAMESPACE)),
                  *(("customresourcedefinitions", crd) for crd in certmanager.crd_objects())], [])  # fmt: skip
    elif (action, name) == ("disable", "cert-manager"):
        run(ctx, [], [("customresourcedefinitions", crd) for crd in certmanager.crd_objects()])
    elif (action, name) == ("enable", "ingress"):
        run(ctx, ingress_objects, [])
    elif (action, name) == ("disable", "ingress"):
        run(ctx, [], ingress_objects[1:])
    elif (action, name) == ("enable", "storage") and not ctx.profile.since(24):
        run(ctx, [("storageclasses", hostpath_class(ctx))], [])
    elif action == "disable" and name in ("storage", "hostpath-storage"):
        run(ctx, [], [("storageclasses", hostpath_class(ctx))])
    elif (action, name) == ("enable", "dns"):
        run(ctx, [("configmaps", coredns_config())], [])
    elif (action, name) == ("disable", "dns"):
        run(ctx, [], [("configmaps", coredns_config())])
    elif (action, name) == ("disable", "metallb"):
        run(ctx, [], [("configmaps", metallb_config(""))])


def delete_defined_objects(api: kubeclient.KubeClient, crd: dict) -> None:
    """Deleting a CRD deletes its objects (the API server's customresourcecleanup finalizer) before it goes."""
    plural = crd["spec"]["names"]["plural"]
    try:
        items = api.list(plural)
    except kubeclient.ApiError:
        return  # not defined
    for item in items:
        api.delete(plural, item["metadata"]["name"], item["metadata"].get("namespace"))


def run(ctx: Context, wanted: list[tuple[str, dict]], unwanted: list[tuple[str, dict]]) -> None:
    """Apply then delete; an API server that does not answer is reported as the addon scripts' kubectl does."""
    try:
        api = client(ctx)
        for resource, obj in wanted:
            put(api, resource, obj)
        for resource, obj in unwanted:
            if resource == "customresourcedefinitions":
                delete_defined_objects(api, obj)
            api.delete(resource, obj["metadata"]["name"], obj["metadata"].get("namespace"))
    except OSError as error:
        raise datastore.DatastoreError(str(error)) from error
    except kubeclient.ApiError as error:
        from microk8s_double.commands.addon_scripts import ScriptFailed  # the scripts import this module

        print(f"Error from server ({error.reason}): {error.message}", file=sys.stderr)
        raise ScriptFailed(1) from error
