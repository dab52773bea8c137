# SPDX-License-Identifier: GPL-3.0-or-later
"""Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), for the kinds clients
send that way to the double: client-go's typed clients (kubectl 1.32 `auth can-i`, `auth can-i --list`) post the
authorization reviews as protobuf. Answers stay JSON (the clients accept it).

The envelope (apimachinery runtime/serializer/protobuf): the magic bytes `k8s\\0`, then a `runtime.Unknown` message
{1: typeMeta {1: apiVersion, 2: kind}, 2: raw, 3: contentEncoding, 4: contentType}; `raw` is the object's own
message, whose field numbers come from the kind's generated.proto (k8s.io/api/authorization/v1). Only the fields
the reviews read are decoded; a kind without a schema here is refused with 415, as a server without a decoder for
it would.
"""

from __future__ import annotations

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"

# field number -> (name, schema): a schema is "string", "repeated string", a nested dict, or ("map", ...).
RESOURCE_ATTRIBUTES = {
    1: ("namespace", "string"),
    2: ("verb", "string"),
    3: ("group", "string"),
    4: ("version", "string"),
    5: ("resource", "string"),
    6: ("subresource", "string"),
    7: ("name", "string"),
}
NON_RESOURCE_ATTRIBUTES = {1: ("path", "string"), 2: ("verb", "string")}
OBJECT_META = {1: ("name", "string"), 3: ("namespace", "string")}
ACCESS_REVIEW_SPEC = {
    1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
    3: ("user", "string"),
    4: ("groups", "repeated string"),
    6: ("uid", "string"),
}
SELF_ACCESS_REVIEW_SPEC = {
    1: ("resourceAttributes", RESOURCE_ATTRIBUTES),
    2: ("nonResourceAttributes", NON_RESOURCE_ATTRIBUTES),
}
RULES_REVIEW_SPEC = {1: ("namespace", "string")}
KINDS = {
    "SelfSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", SELF_ACCESS_REVIEW_SPEC)},
    "SubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", ACCESS_REVIEW_SPEC)},
    "LocalSubjectAccessReview": {1: ("metadata", OBJECT_META), 2: ("spec", ACCESS_REVIEW_SPEC)},
    "SelfSubjectRulesReview": {1: ("metadata", OBJECT_META), 2: ("spec", RULES_REVIEW_SPEC)},
}


class Undecodable(ValueError):
    """Not a protobuf body this module can read; `code` is the HTTP status to answer."""

    def __init__(self, message: str, code: int = 400):
        super().__init__(message)
        self.code = code


def is_protobuf(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip() == MEDIA_TYPE


def varint(data: bytes, at: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if at >= len(data):
            raise Undecodable("truncated varint")
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, at
        shift += 7


def fields(data: bytes):
    """(field number, wire type, value) for each field of one message; length-delimited values as bytes."""
    at = 0
    while at < len(data):
        key, at = varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = varint(data, at)
        elif wire == 2:
            size, at = varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise Undecodable(f"unsupported wire type {wire}")
        yield number, wire, value


def message(data: bytes, schema: dict) -> dict:
    """The fields `schema` names, as the JSON form would carry them; others are skipped."""
    found: dict = {}
    for number, wire, value in fields(data):
        if number not in schema or wire != 2:
            continue
        name, kind = schema[number]
        if kind == "string":
            found[name] = value.decode()
        elif kind == "repeated string":
            found.setdefault(name, []).append(value.decode())
        else:
            found[name] = message(value, kind)
    return found


def decode(body: bytes) -> dict:
    """The object a protobuf request body carries, in its JSON shape (apiVersion and kind included)."""
    if not body.startswith(MAGIC):
        raise Undecodable("provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
    envelope = {number: value for number, _wire, value in fields(body[len(MAGIC) :])}
    type_meta = message(envelope.get(1, b""), {1: ("apiVersion", "string"), 2: ("kind", "string")})
    kind = type_meta.get("kind", "")
    if kind not in KINDS:
        raise Undecodable(f"the double decodes no {kind or 'unnamed'} object from protobuf", code=415)
    return {**type_meta, **message(envelope.get(2, b""), KINDS[kind])}
