# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

from ansible_collections.onprem.microk8s.plugins.filter.model_archive import (
    FilterModule,
    model_versions_changed_in_place,
    model_versions_to_keep,
)


def _stat(name, version, checksum, artifact=None):
    """One result of the role's looped stat (checksum_algorithm sha256)."""
    item = {"name": name, "version": version, "artifact": artifact or "/models/%s-%s.joblib" % (name, version)}
    return {"item": item, "stat": {"exists": True, "checksum": checksum}}


KEPT = [{"name": "digits", "version": "v1", "sha256": "a" * 64, "bytes": 10}]


def test_only_the_versions_the_archive_lacks_are_stored():
    results = [_stat("digits", "v1", "a" * 64), _stat("digits", "v2", "b" * 64), _stat("cats", "v1", "c" * 64)]
    assert model_versions_to_keep(results, KEPT) == [
        {"name": "digits", "version": "v2", "artifact": "/models/digits-v2.joblib", "sha256": "b" * 64},
        {"name": "cats", "version": "v1", "artifact": "/models/cats-v1.joblib", "sha256": "c" * 64},
    ]
    assert model_versions_to_keep(results, []) == [dict(r["item"], sha256=r["stat"]["checksum"]) for r in results]
    assert model_versions_to_keep([], KEPT) == []


def test_a_version_kept_with_other_bytes_is_named_and_an_unchanged_one_is_not():
    assert model_versions_changed_in_place([_stat("digits", "v1", "a" * 64)], KEPT) == []
    [line] = model_versions_changed_in_place([_stat("digits", "v1", "f" * 64), _stat("digits", "v2", "b" * 64)], KEPT)
    assert line.startswith("digits v1 (kept with sha256 " + "a" * 64) and line.endswith("f" * 64 + ")")


def test_a_version_written_as_a_number_matches_the_kept_string():
    kept = [{"name": "digits", "version": "2", "sha256": "b" * 64}]
    assert model_versions_to_keep([_stat("digits", 2, "b" * 64)], kept) == []
    assert model_versions_changed_in_place([_stat("digits", 2, "c" * 64)], kept) != []


def test_the_filters_are_registered():
    assert set(FilterModule().filters()) == {"model_versions_to_keep", "model_versions_changed_in_place"}
