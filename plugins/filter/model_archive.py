# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
"""Pure helpers of inference_service's model archive: which served model versions the samples volume still lacks,
and which it keeps with other bytes (a version is immutable there). Both read the role's `stat` results of the
artifacts on the controller (SHA-256 checksums) and the store's `GET /v1/models` list."""

from __future__ import annotations


def _artifacts(stat_results):
    for result in stat_results or []:
        item, stat = result.get("item") or {}, result.get("stat") or {}
        yield {
            "name": str(item.get("name")),
            "version": str(item.get("version")),
            "artifact": item.get("artifact"),
            "sha256": stat.get("checksum"),
        }


def _kept(kept):
    return {(str(entry.get("name")), str(entry.get("version"))): entry.get("sha256") for entry in kept or []}


def model_versions_to_keep(stat_results, kept):
    """The artifacts (name, version, artifact, sha256) whose version the archive does not keep yet."""
    known = _kept(kept)
    return [artifact for artifact in _artifacts(stat_results) if (artifact["name"], artifact["version"]) not in known]


def model_versions_changed_in_place(stat_results, kept):
    """One line per model version the archive keeps with bytes other than the artifact's now."""
    known = _kept(kept)
    return [
        "%s %s (kept with sha256 %s, the artifact now has %s)"
        % (artifact["name"], artifact["version"], known[key], artifact["sha256"])
        for artifact in _artifacts(stat_results)
        for key in [(artifact["name"], artifact["version"])]
        if key in known and known[key] != artifact["sha256"]
    ]


class FilterModule:
    def filters(self):
        return {
            "model_versions_to_keep": model_versions_to_keep,
            "model_versions_changed_in_place": model_versions_changed_in_place,
        }
