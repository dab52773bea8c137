# SPDX-License-Identifier: GPL-3.0-or-later
"""The REST verbs on every served kind: get, list (label/field selectors, Table, watch), create, update (PUT),
patch (merge, strategic merge, JSON patch, apply), delete and deletecollection, with the `status` and `scale`
subresources, `dryRun=All`, resourceVersion preconditions (409 Conflict), defaults, admission (default
tolerations), validation (422), server-side field validation (`fieldValidation`, api/fields.py) and evictions
under PodDisruptionBudgets (api/disruption.py). Error Status bodies follow k8s.io/apimachinery/pkg/api/errors:
NotFound/AlreadyExists/Conflict name the resource (`deployments.apps "x" not found`, details.kind
`deployments`), Invalid the kind (`Deployment.apps "x" is invalid: ...`, details.kind `Deployment`).

Writes are compare-and-swap operations on the datastore (api/store.py), so concurrent API servers on several
control planes never lose an update. Pods bound to a node are deleted gracefully (deletionTimestamp; the kubelet
deletes them for good with grace 0); dependents are left to the garbage collector (controllers/garbage.py).
Simplified: a deleted namespace takes its objects with it at once (no Terminating phase); pods/binding is the
scheduler's only subresource write besides status and scale.
"""

from __future__ import annotations

import copy
import datetime
import json
import secrets
import threading
import urllib.parse
import uuid
from dataclasses import dataclass, field

from .. import nodes
from ..controllers import services as service_alloc
from . import certmanager, defaults, disruption, events, fields, patch, selectors, tables, validate, watch
from .resources import BY_PATH, RESOURCES, Resource

NAME_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery's utilrand alphabet
PATCH_TYPES = {
    "application/merge-patch+json": patch.merge_patch,
    "application/strategic-merge-patch+json": patch.strategic_merge,
    "application/apply-patch+yaml": patch.strategic_merge,  # JSON bodies only (JSON is YAML)
    "application/json-patch+json": patch.json_patch,
}
RETRIES = 5
SCALE_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
VALIDATION = ("Ignore", "Warn", "Strict")
DEFAULT_CLASS = "storageclass.kubernetes.io/is-default-class"
NODE_TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")
NAME_LABEL = "kubernetes.io/metadata.name"


class Failure(Exception):
    """An error answer: HTTP code, reason and message (and details) of the Status body."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self) -> dict:
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason, "code": self.code}  # fmt: skip
        if self.details:
            body["details"] = self.details
        return body

    def status_answer(self) -> tuple[int, dict]:
        return self.code, self.status()


@dataclass
class Write:
    """How one write request is handled: dry run, field validation directive, warnings for the answer."""

    dry_run: bool = False
    validation: str = "Ignore"
    warnings: list[str] = field(default_factory=list)


@dataclass
class Target:
    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str | None

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `pods`: how messages name the resource."""
        return f"{self.resource.name}.{self.resource.group}" if self.resource.group else self.resource.name

    def key(self, name: str | None = None) -> str:
        return self.resource.key(self.namespace, name or self.name or "")


def parse(path: str) -> Target | None:
    """/api/v1/[namespaces/NS/]RESOURCE[/NAME[/SUB]] or /apis/GROUP/VERSION/...; None when not served."""
    parts = path.strip("/").split("/")
    if parts[0] == "api" and len(parts) > 2:
        group_version, rest = parts[1], parts[2:]
    elif parts[0] == "apis" and len(parts) > 3:
        group_version, rest = "/".join(parts[1:3]), parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2 and rest[2] not in ("status", "finalize"):
        namespace, rest = rest[1], rest[2:]
    resource = BY_PATH.get((group_version, rest[0]))
    if resource is None or len(rest) > 3 or (len(rest) == 3 and rest[2] not in resource.subresources):
        return None
    name, subresource = [*rest[1:], None, None][:2]
    return Target(resource, namespace, name, subresource)


def details(resource: Resource, name: str, kind: str | None = None) -> dict:
    """A Status's details: the resource (plural) by default, the Kind for Invalid."""
    found = {"name": name, "group": resource.group, "kind": kind or resource.name}
    return {k: v for k, v in found.items() if v}


def not_found(target: Target, name: str | None = None) -> Failure:
    name = name or target.name
    return Failure(404, "NotFound", f'{target.qualified} "{name}" not found', details(target.resource, name))


def conflict(target: Target) -> Failure:
    text = "the object has been modified; please apply your changes to the latest version and try again"
    message = f'Operation cannot be fulfilled on {target.qualified} "{target.name}": {text}'
    return Failure(409, "Conflict", message, details(target.resource, target.name))


def stripped(obj: dict) -> dict:
    """The object without what every write changes, to recognise a no-op update."""
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
    return dict(obj, metadata=meta)


class Handlers:
    """`toleration_seconds`: the DefaultTolerationSeconds admission's values, per taint key (kube-apiserver's
    `--default-{not-ready,unreachable}-toleration-seconds`); `field_validation`: the default directive (1.25+: Warn),
    None when the server predates the `fieldValidation` parameter (it is then ignored); `name_label`: namespaces get
    the `kubernetes.io/metadata.name` label (1.21+, the NamespaceDefaultLabelName gate); `minor`: the Kubernetes
    minor version, for what differs between releases (which StatefulSet fields may change)."""

    def __init__(self, store, toleration_seconds: dict | None = None, field_validation="Warn", name_label=True,
                 mixed_protocol_lb=True, minor=99):  # fmt: skip
        self.store = store
        self.minor = minor
        self.mixed_protocol_lb = mixed_protocol_lb
        self.name_label = name_label
        self.toleration_seconds = toleration_seconds or dict.fromkeys(NODE_TAINTS, 300)
        self.field_validation = field_validation
        self.evictions = threading.Lock()  # one eviction at a time judges a budget (real: the budget's CAS)

    # -- entry point ----------------------------------------------------------------------------------------------
    def handle(self, method: str, target: Target, query: str, headers, body: bytes) -> tuple:
        params = dict(urllib.parse.parse_qsl(query))
        write = Write(params.get("dryRun") == "All")
        try:
            write.validation = self.validation(params) if method in ("POST", "PUT", "PATCH") else "Ignore"
            answer = self.dispatch(method, target, params, headers, body, write)
        except Failure as failure:
            return failure.status_answer()
        warnings = [("Warning", f"299 - {json.dumps(text)}") for text in write.warnings]
        return (*answer, warnings) if warnings else answer

    def validation(self, params: dict) -> str:
        if self.field_validation is None:
            return "Ignore"
        directive = params.get("fieldValidation") or self.field_validation
        if directive not in VALIDATION:
            supported = ", ".join(f'"{v}"' for v in sorted(VALIDATION))
            raise Failure(400, "BadRequest", f'fieldValidation: Unsupported value: "{directive}": supported values: '
                          f"{supported}")  # fmt: skip
        return directive

    def dispatch(self, method, target: Target, params: dict, headers, body: bytes, write: Write) -> tuple:
        as_table = "as=Table" in headers.get("Accept", "")
        if method == "GET" and target.name is None:
            if params.get("watch") in ("1", "true"):
                return 200, self.watch(target, params)
            return 200, self.list(target, params, as_table)
        if method == "GET":
            found = self.get(target)
            if target.subresource == "log":
                return 200, b""  # no container output is kept
            if as_table:
                return 200, tables.table(target.resource.name, [found], found["metadata"].get("resourceVersion", ""))
            return 200, view(target, found)
        if method == "POST" and target.name is None:
            return 201, view(target, self.create(target, decode(body), write))
        if method == "PUT" and target.name:
            return 200, view(target, self.update(target, decode(body), write))
        if method == "PATCH" and target.name:
            content_type = headers.get("Content-Type", "").split(";")[0].strip()
            return self.patch(target, content_type, decode(body), write)
        if method == "POST" and target.subresource == "binding":
            return 201, self.bind(target, decode(body))
        if method == "POST" and target.subresource == "eviction":
            return 201, self.evict(target, decode(body), write.dry_run)
        if method == "DELETE" and target.name:
            options = decode(body) if body else {}
            grace = params.get("gracePeriodSeconds", options.get("gracePeriodSeconds"))
            return 200, self.delete(target, write.dry_run, None if grace is None else int(grace))
        if method == "DELETE":
            return 200, self.delete_collection(target, params, write.dry_run)
        raise Failure(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # -- reads ----------------------------------------------------------------------------------------------------
    def read(self, key: str) -> dict | None:
        found = self.store.execute([{"op": "get", "key": key}])[0]
        return self.shown(found) if found else None

    def shown(self, obj: dict) -> dict:
        """Budgets get the disruption controller's status (judged when read)."""
        if obj.get("kind") == "PodDisruptionBudget":
            return dict(obj, status=self.budget_status(obj))
        return obj

    def budget_status(self, budget: dict) -> dict:
        namespace = budget["metadata"]["namespace"]
        pods, sets = self.store.execute([{"op": "list", "prefix": f"/registry/pods/{namespace}/"},
                                         {"op": "list", "prefix": f"/registry/replicasets/{namespace}/"}])  # fmt: skip
        replicas = {rs["metadata"]["uid"]: int(rs["spec"].get("replicas", 1)) for rs in sets.values()}
        return disruption.status(budget, list(pods.values()), replicas)

    def get(self, target: Target) -> dict:
        found = self.read(target.key())
        if found is None:
            raise not_found(target)
        return found

    def snapshot(self, target: Target) -> tuple[dict[str, dict], str]:
        found, index = self.store.execute([{"op": "list", "prefix": target.key()}, {"op": "index"}])
        return {k: self.shown(v) for k, v in sorted(found.items())}, str(index)

    def matcher(self, params: dict):
        try:
            labels = selectors.label_matcher(params.get("labelSelector"))
            fields = selectors.field_matcher(params.get("fieldSelector"))
        except selectors.SelectorError as error:
            raise Failure(400, "BadRequest", str(error)) from error
        return lambda o: labels(o["metadata"].get("labels")) and fields(o)

    def list(self, target: Target, params: dict, as_table: bool) -> dict:
        found, version = self.snapshot(target)
        wanted = self.matcher(params)
        items = [o for o in found.values() if wanted(o)]
        if as_table:
            return tables.table(target.resource.name, items, version)
        kind = f"{target.resource.kind}List"
        return {"kind": kind, "apiVersion": target.resource.group_version, "metadata": {"resourceVersion": version},
                "items": [view(target, o) for o in items]}  # fmt: skip

    def watch(self, target: Target, params: dict):
        wanted = self.matcher(params)
        timeout = float(params.get("timeoutSeconds") or watch.DEFAULT_TIMEOUT)

        def snapshot():
            return {key: view(target, obj) for key, obj in self.snapshot(target)[0].items()}

        return watch.events(snapshot, wanted, params.get("resourceVersion"), timeout)

    # -- writes ---------------------------------------------------------------------------------------------------
    def create(self, target: Target, obj: dict, write: Write) -> dict:
        resource = target.resource
        obj = self.known_fields(target, stored_form(target, obj), write, creating=True)
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") and meta["namespace"] != target.namespace:
                raise Failure(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                              "sent on the request")  # fmt: skip
            meta["namespace"] = target.namespace
            if self.read(f"/registry/namespaces/{target.namespace}") is None:
                raise not_found(Target(BY_PATH[("v1", "namespaces")], None, target.namespace, None))
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + "".join(secrets.choice(NAME_CHARS) for _unused in range(5))
        obj.update(kind=resource.kind, apiVersion=resource.group_version)
        meta.pop("resourceVersion", None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=nodes.stamp(nodes.now()))
        if resource.generation:
            meta["generation"] = 1
        if "status" in resource.subresources and resource.name not in ("nodes", "namespaces"):
            obj["status"] = {"phase": "Pending", "qosClass": "BestEffort"} if resource.name == "pods" else {}
        if resource.name == "pods":
            self.default_tolerations(obj.setdefault("spec", {}))
        self.label_namespace(resource.name, obj)
        if resource.name == "persistentvolumeclaims":
            self.default_storage_class(obj.setdefault("spec", {}))
        defaults.apply(resource.name, obj, self.minor)
        if resource.name == "jobs":
            defaults.job_selector(obj, self.minor)
        self.check(target, obj)
        named = Target(resource, target.namespace, meta["name"], None)
        if write.dry_run:
            if self.read(named.key()) is not None:
                raise already_exists(named)
            return obj
        done = self.store.execute([{"op": "write", "key": named.key(), "value": obj, "expect": "absent"}])[0]
        if not done["ok"]:
            raise already_exists(named)
        return done["value"]

    def label_namespace(self, resource: str, obj: dict) -> None:
        """The namespace strategy's PrepareForCreate/Update: the name label, whatever the client sent."""
        if resource == "namespaces" and self.name_label:
            meta = obj.setdefault("metadata", {})
            meta["labels"] = dict(meta.get("labels") or {}, **{NAME_LABEL: meta.get("name", "")})

    def default_tolerations(self, spec: dict) -> None:
        """The DefaultTolerationSeconds admission: NoExecute tolerations of the node taints a pod lacks."""
        tolerations = spec.setdefault("tolerations", [])
        for taint in NODE_TAINTS:
            if not any(t.get("key") in (None, "", taint) and t.get("effect") in (None, "", "NoExecute")
                       for t in tolerations):  # fmt: skip
                tolerations.append({"key": taint, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": self.toleration_seconds[taint]})  # fmt: skip

    def default_storage_class(self, spec: dict) -> None:
        """The DefaultStorageClass admission: a claim created without `storageClassName` gets the class annotated
        `storageclass.kubernetes.io/is-default-class: "true"` (the newest when several are); none: left unset."""
        if "storageClassName" in spec:
            return
        classes = self.store.execute([{"op": "list", "prefix": "/registry/storageclasses/"}])[0].values()
        defaults = [c for c in classes if (c["metadata"].get("annotations") or {}).get(DEFAULT_CLASS) == "true"]
        if defaults:
            newest = max(defaults, key=lambda c: (c["metadata"].get("creationTimestamp", ""), c["metadata"]["name"]))
            spec["storageClassName"] = newest["metadata"]["name"]

    def known_fields(self, target: Target, obj: dict, write: Write, creating: bool = False) -> dict:
        """The object without unknown fields, as decoding into the Go type leaves it; Strict refuses them."""
        if target.subresource not in (None, "status") or not isinstance(obj, dict):
            return obj
        kept, unknown = fields.prune(target.resource.kind, obj)
        texts = [f'unknown field "{path}"' for path in unknown]
        if texts and write.validation == "Strict":
            kind, version = target.resource.kind, target.resource.version
            prefix = f'{kind} in version "{version}" cannot be handled as a {kind}: ' if creating else ""
            raise Failure(400, "BadRequest", prefix + "strict decoding error: " + ", ".join(texts))
        if write.validation == "Warn":
            write.warnings += texts
        return kept

    def check(self, target: Target, obj: dict, old: dict | None = None) -> None:
        if target.resource.kind == "Certificate" and target.resource.group == certmanager.GROUP:
            denial = certmanager.webhook_denial(obj)  # cert-manager's validating webhook
            if denial:
                raise Failure(403, "Forbidden", denial)
        found = validate.errors(target.resource.name, obj)
        if target.resource.name == "services" and not self.mixed_protocol_lb:  # ValidateConditionalService
            found += validate.mixed_protocol_errors(obj, old)
        if target.resource.name == "statefulsets" and target.subresource is None:
            found += validate.stateful_set_update_errors(obj, old, self.minor)
        if not found:
            return
        name = obj.get("metadata", {}).get("name", "")
        kind = target.resource.kind
        qualified = f"{kind}.{target.resource.group}" if target.resource.group else kind
        texts = ", ".join(f"{path}: {detail}" for path, _reason, detail in found)
        causes = [{"reason": reason, "message": detail, "field": path} for path, reason, detail in found]
        message = f'{qualified} "{name}" is invalid: ' + (f"[{texts}]" if len(found) > 1 else texts)
        raise Failure(422, "Invalid", message, dict(details(target.resource, name, kind), causes=causes))

    def updated(self, target: Target, current: dict, new: dict) -> dict:
        """What an update stores: identity kept, status or everything but status per subresource, defaults,
        generation bumped on spec changes."""
        resource = target.resource
        if target.subresource == "status":
            result = copy.deepcopy(current)
            result["status"] = new.get("status", {})
            return result
        if target.subresource == "approval":  # CSRs: only the Approved/Denied conditions change
            result = copy.deepcopy(current)
            result.setdefault("status", {})["conditions"] = (new.get("status") or {}).get("conditions") or []
            self.check(target, result)
            return result
        result = copy.deepcopy(new)
        result.update(kind=resource.kind, apiVersion=resource.group_version)
        meta = result.setdefault("metadata", {})
        for key in ("name", "namespace", "uid", "creationTimestamp", "generation", "deletionTimestamp"):
            if key in current["metadata"]:
                meta[key] = current["metadata"][key]
        if "status" in resource.subresources:
            result["status"] = current.get("status", {})
        if resource.name == "services":
            result = service_alloc.patch_allocated_values(result, current)
        defaults.apply(resource.name, result, self.minor)
        self.label_namespace(resource.name, result)
        if resource.generation and result.get("spec") != current.get("spec"):
            meta["generation"] = int(current["metadata"].get("generation", 1)) + 1
        self.check(target, result, current)
        return result

    def store_update(self, target: Target, current: dict, new: dict, dry_run: bool) -> dict | None:
        """Write `new` over `current` (None when someone else changed it meanwhile); a no-op writes nothing."""
        if dry_run or stripped(new) == stripped(current):
            return new if dry_run else current
        op = {"op": "write", "key": target.key(), "value": new, "expect": current["metadata"].get("resourceVersion")}
        done = self.store.execute([op])[0]
        return done["value"] if done["ok"] else None

    def update(self, target: Target, obj: dict, write: Write) -> dict:
        current = self.get(target)
        obj = with_scale(current, obj) if target.subresource == "scale" else stored_form(target, obj)
        obj = self.known_fields(target, obj, write, creating=True)
        wanted = obj.get("metadata", {}).get("resourceVersion")
        if wanted and wanted != current["metadata"].get("resourceVersion"):
            raise conflict(target)
        stored = self.store_update(target, current, self.updated(target, current, obj), write.dry_run)
        if stored is None:
            raise conflict(target)
        return stored

    def patch(self, target: Target, content_type: str, body: object, write: Write) -> tuple[int, dict]:
        apply = PATCH_TYPES.get(content_type)
        if apply is None:
            raise Failure(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                          f"accepted media types include: {', '.join(PATCH_TYPES)}")  # fmt: skip
        for _attempt in range(RETRIES):
            current = self.read(target.key())
            if current is None:
                if content_type == "application/apply-patch+yaml":
                    collection = Target(target.resource, target.namespace, None, None)
                    return 201, view(target, self.create(collection, body, write))
                raise not_found(target)
            base = view(target, current)
            try:
                patched = apply(base, body)
            except (patch.PatchError, TypeError, AttributeError) as error:
                raise Failure(422, "Invalid", str(error)) from error
            patched = with_scale(current, patched) if target.subresource == "scale" else stored_form(target, patched)
            patched = self.known_fields(target, patched, write)
            wanted = (body.get("metadata") or {}).get("resourceVersion") if isinstance(body, dict) else None
            if wanted and wanted != current["metadata"].get("resourceVersion"):
                raise conflict(target)
            stored = self.store_update(target, current, self.updated(target, current, patched), write.dry_run)
            if stored is not None:
                return 200, view(target, stored)
        raise conflict(target)

    def delete(self, target: Target, dry_run: bool, grace: int | None = None) -> dict:
        current = self.get(target)
        if target.resource.name == "pods" and graceful(current, grace):
            return self.start_termination(target, current, grace, dry_run)
        if dry_run:
            return current
        done = self.store.execute([{"op": "write", "key": target.key(), "value": None}])[0]
        if not done["ok"]:
            raise not_found(target)
        if target.resource.name == "namespaces":
            self.delete_namespace_contents(target.name)
        return current

    def start_termination(self, target: Target, pod: dict, grace: int | None, dry_run: bool) -> dict:
        """A graceful pod deletion: deletionTimestamp (now + grace) is set and the node's kubelet stops the pod,
        then deletes it for good (grace 0); a shorter grace period may replace a longer one."""
        seconds = pod["spec"].get("terminationGracePeriodSeconds", 30) if grace is None else grace
        meta = pod["metadata"]
        if meta.get("deletionTimestamp") and int(meta.get("deletionGracePeriodSeconds", 0)) <= seconds:
            return pod
        terminating = copy.deepcopy(pod)
        moment = nodes.now() + datetime.timedelta(seconds=seconds)
        terminating["metadata"].update(deletionTimestamp=nodes.stamp(moment), deletionGracePeriodSeconds=seconds)
        stored = self.store_update(target, pod, terminating, dry_run)
        if stored is None:
            raise conflict(target)
        return stored

    def bind(self, target: Target, binding: dict) -> dict:
        """pods/NAME/binding (the scheduler): sets spec.nodeName once."""
        pod = self.get(target)
        if pod["spec"].get("nodeName"):
            message = f'pod {target.name} is already assigned to node "{pod["spec"]["nodeName"]}"'
            raise Failure(409, "Conflict", f'Operation cannot be fulfilled on pods/binding "{target.name}": {message}')
        bound = copy.deepcopy(pod)
        bound["spec"]["nodeName"] = (binding.get("target") or {}).get("name", "")
        if self.store_update(target, pod, bound, False) is None:
            raise conflict(target)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def evict(self, target: Target, eviction: dict, dry_run: bool) -> dict:
        """pods/NAME/eviction (policy/v1 or v1beta1 Eviction): a graceful delete, unless the pod's budget would be
        broken (429 TooManyRequests, as kubectl drain expects, which then retries)."""
        with self.evictions:
            pod = self.get(target)
            prefix = BY_PATH[("policy/v1", "poddisruptionbudgets")].key(target.namespace)
            found = self.store.execute([{"op": "list", "prefix": prefix}])[0]
            budgets = [self.shown(b) for b in found.values() if disruption.covers(b, pod)]
            refused = disruption.refusal(pod, budgets)
            if refused:
                code, message, cause = refused
                reason = "TooManyRequests" if code == 429 else "InternalError"
                causes = [{"reason": "DisruptionBudget", "message": cause}] if cause else []
                raise Failure(code, reason, message, {"causes": causes} if causes else None)
            grace = (eviction.get("deleteOptions") or {}).get("gracePeriodSeconds")
            self.delete(Target(target.resource, target.namespace, target.name, None), dry_run, grace)
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}

    def delete_collection(self, target: Target, params: dict, dry_run: bool) -> dict:
        found, version = self.snapshot(target)
        wanted = self.matcher(params)
        items = [o for o in found.values() if wanted(o)]
        for obj in items:
            self.delete(Target(target.resource, obj["metadata"].get("namespace"), obj["metadata"]["name"], None),
                        dry_run)  # fmt: skip
        kind = f"{target.resource.kind}List"
        return {"kind": kind, "apiVersion": target.resource.group_version, "metadata": {"resourceVersion": version},
                "items": items}  # fmt: skip

    def delete_namespace_contents(self, namespace: str) -> None:
        ops = []
        for resource in (r for r in RESOURCES if r.namespaced):
            found = self.store.execute([{"op": "list", "prefix": resource.key(namespace)}])[0]
            ops += [{"op": "delete", "key": key} for key in found]
        if ops:
            self.store.execute(ops)


def graceful(pod: dict, grace: int | None) -> bool:
    """Pods bound to a node and still running end through their kubelet unless the grace period is 0."""
    finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
    return bool(pod["spec"].get("nodeName")) and not finished and grace != 0


def already_exists(target: Target) -> Failure:
    message = f'{target.qualified} "{target.name}" already exists'
    return Failure(409, "AlreadyExists", message, details(target.resource, target.name))


def view(target: Target, obj: dict) -> dict:
    """A stored object as the request's group version and subresource show it."""
    if target.subresource == "scale":
        return scale_of(obj)
    return events.to_new(obj) if target.resource.group == "events.k8s.io" else obj


def stored_form(target: Target, obj: object) -> object:
    """A request body as stored (events.k8s.io Events become core ones)."""
    if target.resource.group == "events.k8s.io" and isinstance(obj, dict):
        return events.to_core(obj)
    return obj


def decode(body: bytes) -> object:
    try:
        return json.loads(body or b"{}")
    except ValueError as error:
        raise Failure(400, "BadRequest", f"the body of the request could not be decoded: {error}") from error


def scale_of(obj: dict) -> dict:
    """The autoscaling/v1 Scale view of a deployment or replica set."""
    meta = obj["metadata"]
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {k: meta[k] for k in SCALE_META if k in meta},
        "spec": {"replicas": obj["spec"].get("replicas", 1)},
        "status": {
            "replicas": obj.get("status", {}).get("replicas", 0),
            "selector": selectors.to_text(obj["spec"].get("selector")),
        },
    }


def with_scale(obj: dict, scale: dict) -> dict:
    """The object with the replicas a Scale asks for (and the Scale's resourceVersion as precondition)."""
    result = copy.deepcopy(obj)
    result["spec"]["replicas"] = int((scale.get("spec") or {}).get("replicas", 0))
    result["metadata"]["resourceVersion"] = (scale.get("metadata") or {}).get("resourceVersion") or obj["metadata"].get(
        "resourceVersion"
    )
    return result
