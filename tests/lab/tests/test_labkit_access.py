# SPDX-License-Identifier: GPL-3.0-or-later
from __future__ import annotations

import pathlib

import yaml
from labkit import access, plan

KEY = pathlib.Path("/lab/inventories/lab/.ssh/id_ed25519")
KNOWN_HOSTS = pathlib.Path("/lab/inventories/lab/.ssh/known_hosts")
SNAPS = {"snap_file": pathlib.Path("/b/microk8s_v1.24.17_amd64.snap"), "base_snap_file": pathlib.Path("/b/core18.snap")}


def render(masters=None, workers=None):
    text = access.render_inventory(plan.machines(4, masters, workers), KEY, KNOWN_HOSTS, SNAPS, "1.24")
    return yaml.safe_load(text)


def test_groups_match_the_home_inventory_and_hosts_carry_their_address():
    inventory = render(masters=3)
    groups = inventory["all"]["children"]
    assert set(groups) == {"masters", "workers", "clients"}
    assert groups["masters"]["hosts"] == {f"node{k}": {"ansible_host": f"10.77.0.1{k}"} for k in (1, 2, 3)}
    assert groups["workers"]["hosts"] == {"node4": {"ansible_host": "10.77.0.14"}}
    assert groups["clients"]["hosts"] == {"client1": {"ansible_host": "10.77.0.200"}}


def test_an_empty_group_is_still_a_mapping():
    assert render()["all"]["children"]["workers"]["hosts"] == {}


def test_connection_and_offline_install_variables():
    variables = render()["all"]["vars"]
    assert variables["ansible_ssh_private_key_file"] == str(KEY)
    assert f"UserKnownHostsFile={KNOWN_HOSTS}" in variables["ansible_ssh_common_args"]
    assert "StrictHostKeyChecking=no" in variables["ansible_ssh_common_args"]
    assert variables["microk8s_node_snap_file"] == str(SNAPS["snap_file"])
    assert variables["microk8s_node_base_snap_file"] == str(SNAPS["base_snap_file"])
    assert variables["microk8s_node_channel"] == "1.24/stable"


def test_the_app_image_goes_to_the_hello_app_role_only_when_built():
    assert "hello_app_image_archive" not in render()["all"]["vars"]
    image = pathlib.Path("/b/images/hello.local.tar")
    text = access.render_inventory(plan.machines(4), KEY, KNOWN_HOSTS, SNAPS, "1.24", image)
    assert yaml.safe_load(text)["all"]["vars"]["hello_app_image_archive"] == str(image)


def test_the_inference_service_is_enabled_with_its_inputs_only_when_prepared():
    assert not {key for key in render()["all"]["vars"] if key.startswith("inference_service_")}
    archive = pathlib.Path("/b/images/onprem-inference.local.tar.gz")
    models = [{"name": "digits", "version": "v1", "artifact": "/b/offload: models/server/model.joblib"}]
    inference = {"image_archive": archive, "models": models}
    text = access.render_inventory(plan.machines(4), KEY, KNOWN_HOSTS, SNAPS, "1.24", inference=inference)
    variables = yaml.safe_load(text)["all"]["vars"]
    assert variables["inference_service_enabled"] is True
    assert variables["inference_service_image_archive"] == str(archive)
    assert variables["inference_service_models"] == models


def test_paths_with_yaml_special_characters_survive(tmp_path):
    odd = pathlib.Path("/tmp/a: b #c/key")
    text = access.render_inventory(plan.machines(1), odd, KNOWN_HOSTS, SNAPS, "1.20")
    assert yaml.safe_load(text)["all"]["vars"]["ansible_ssh_private_key_file"] == str(odd)


def test_key_is_created_once(tmp_path):
    key = tmp_path / ".ssh" / "id_ed25519"
    first = access.ensure_key(key)
    assert first.startswith("ssh-ed25519 ")
    assert access.ensure_key(key) == first
    assert oct((tmp_path / ".ssh").stat().st_mode & 0o777) == "0o700"


def test_ansible_logs_in_as_the_admin_and_becomes_root_on_the_lab_groups_only():
    inventory = render(masters=3)
    assert not {"ansible_user", "ansible_become"} & set(inventory["all"]["vars"])  # all's vars reach localhost
    for group in ("masters", "workers", "clients"):
        assert inventory["all"]["children"][group]["vars"] == {"ansible_user": "labadmin", "ansible_become": True}
