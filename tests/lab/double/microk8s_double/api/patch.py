# SPDX-License-Identifier: GPL-3.0-or-later
"""The three patch types of PATCH requests: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and Kubernetes'
strategic merge patch (kubectl apply/patch/cordon, the Python client's default).

Strategic merge: maps merge, `null` deletes, lists of objects with a merge key merge element by element (the
key per field name below, as the Go types' `patchMergeKey` tags say for the kinds served), other lists are
replaced; directives `$patch: replace|delete`, `$retainKeys`, `$deleteFromPrimitiveList/<field>` and
`$setElementOrder/<field>` (only the order of merged elements, applied as given).
Simplified: merge keys are chosen by field name (and `ports` by the elements' fields), not from the schema.
"""

from __future__ import annotations

import copy

MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "addresses": "type",
    "topologySpreadConstraints": "topologyKey",
}
# Not merged (no patchStrategy, `+listType=atomic`, so a patch replaces the whole list): a Node's `spec.taints` among
# others; `kubectl taint` and the node lifecycle controller send the whole list.
MERGED_PRIMITIVE_LISTS = ("finalizers",)


class PatchError(ValueError):
    """The patch cannot be applied (bad JSON patch path, failed test op...): the API answers 422/400."""


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge(target: object, patch: object) -> object:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    orders = {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/"):
            orders[key.split("/", 1)[1]] = value
        elif key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            result[field] = [item for item in result.get(field, []) if item not in value]
        elif key == "$retainKeys":
            continue
        elif value is None:
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = merge_list(key, result.get(key), value)
        else:
            merged = strategic_merge(result.get(key), value)
            if merged is None:
                result.pop(key, None)
            else:
                result[key] = merged
    for field, order in orders.items():
        result[field] = ordered(field, result.get(field, []), order)
    if "$retainKeys" in patch:
        result = {k: v for k, v in result.items() if k in patch["$retainKeys"]}
    return result


def merge_key(field: str, items: list) -> str | None:
    if field == "ports":
        return "containerPort" if any("containerPort" in i for i in items if isinstance(i, dict)) else "port"
    return MERGE_KEYS.get(field)


def merge_list(field: str, current: list | None, patch: list) -> list:
    current = current or []
    if field in MERGED_PRIMITIVE_LISTS:
        return current + [item for item in patch if item not in current]
    key = merge_key(field, patch + current)
    if any(isinstance(i, dict) and i.get("$patch") == "replace" for i in patch):
        return [copy.deepcopy(i) for i in patch if not (isinstance(i, dict) and "$patch" in i)]
    if key is None or not all(isinstance(i, dict) for i in patch):
        return copy.deepcopy(patch)
    result = [copy.deepcopy(i) for i in current]
    for item in patch:
        index = next((n for n, old in enumerate(result) if old.get(key) == item.get(key)), None)
        if item.get("$patch") == "delete":
            result = [old for old in result if old.get(key) != item.get(key)]
        elif index is None:
            result.append(strategic_merge({}, item))
        else:
            result[index] = strategic_merge(result[index], item)
    return result


def ordered(field: str, items: list, order: list) -> list:
    """Items in the order `$setElementOrder` gives; those it does not name keep their place at the end."""
    key = merge_key(field, items)
    if key is None:
        return items
    rank = {(o.get(key) if isinstance(o, dict) else o): n for n, o in enumerate(order)}
    return sorted(items, key=lambda i: rank.get(i.get(key) if isinstance(i, dict) else i, len(rank)))


def json_patch(target: object, operations: list) -> object:
    """RFC 6902: add, remove, replace, move, copy, test."""
    document = copy.deepcopy(target)
    for operation in operations:
        kind, path = operation.get("op"), operation.get("path", "")
        if kind == "test":
            if resolve(document, path) != operation.get("value"):
                raise PatchError(f"testing value {path} failed")
        elif kind in ("move", "copy"):
            value = copy.deepcopy(resolve(document, operation["from"]))
            if kind == "move":
                document = pointer_set(document, operation["from"], None, remove=True)
            document = pointer_set(document, path, value)
        elif kind in ("add", "replace", "remove"):
            if kind != "add":
                resolve(document, path)
            value = operation.get("value")
            document = pointer_set(document, path, value, remove=kind == "remove", insert=kind == "add")
        else:
            raise PatchError(f"Unexpected kind: {kind}")
    return document


def tokens(path: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in path.split("/")[1:]] if path else []


def resolve(document: object, path: str) -> object:
    for token in tokens(path):
        try:
            document = document[int(token)] if isinstance(document, list) else document[token]
        except (KeyError, IndexError, ValueError, TypeError) as error:
            raise PatchError(f"doc is missing path: {path}") from error
    return document


def pointer_set(document: object, path: str, value: object, remove: bool = False, insert: bool = False) -> object:
    parts = tokens(path)
    if not parts:
        return value
    parent = resolve(document, "/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts[:-1]))
    last = parts[-1]
    if isinstance(parent, list):
        index = len(parent) if last == "-" else int(last)
        if remove:
            del parent[index]
        elif insert:
            parent.insert(index, value)
        else:
            parent[index] = value
    elif isinstance(parent, dict):
        if remove:
            parent.pop(last, None)
        else:
            parent[last] = value
    else:
        raise PatchError(f"doc is missing path: {path}")
    return document
