# SPDX-License-Identifier: GPL-3.0-or-later
"""`add-node`, `join`, `leave`, `remove-node` against the contract (sections 5-7), per version profile."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time

import pytest

TOKEN = "0123456789abcdef0123456789abcdef"
ALTERNATIVES = (
    "If the node you are adding is not reachable through the default interface you can use one of the following:"
)
JOINED_OK = {"http_status": 200, "message": "", "error_kind": None}
READY = [{"name": "node-1", "status": "Ready", "internal_ip": "127.0.0.1"}]


def fingerprint_of(node) -> str:
    return node.run("add-node", "--format", "token-check").out.strip().split("/")[1]


def test_token_shorter_than_32_is_refused(node):
    result = node.run("add-node", "--token", "short")
    assert (result.rc, result.out) == (1, "Invalid token size.  It must be 32 characters long.\n")


def test_tokens_file_single_use_and_ttl(node):
    node.run("add-node", "--token", TOKEN)
    before = time.time()
    node.run("add-node", "--token", TOKEN[::-1], "--token-ttl", "600")
    lines = (node.data / "credentials" / "cluster-tokens.txt").read_text().splitlines()
    assert lines[0] == TOKEN
    token, expiry = lines[1].split("|")
    assert token == TOKEN[::-1] and before + 599 <= int(expiry) <= time.time() + 601


def test_pretty_join_lines_by_version(node):
    lines = node.run("add-node", "--token", TOKEN).out.splitlines()
    suffix = "" if node.minor < 21 else "/" + re.search(r"/([0-9a-f]{12})$", lines[1]).group(1)
    url = f"127.0.0.1:25000/{TOKEN}{suffix}"
    assert lines[:3] == [
        "From the node you wish to join to this cluster, run the following:",
        f"microk8s join {url}",
        "",
    ]
    if node.minor >= 23:
        assert lines[3:6] == [
            "Use the '--worker' flag to join a node as a worker not running the control plane, eg:",
            f"microk8s join {url} --worker",
            "",
        ]
    prefix = "" if node.minor >= 23 else " "
    hosts = ["127.0.0.1", "10.77.0.9"] + (["fd00::9"] if node.minor >= 23 else [])
    assert lines[lines.index(ALTERNATIVES) + 1 :] == [f"{prefix}microk8s join {h}:25000/{TOKEN}{suffix}" for h in hosts]


def test_fingerprint_is_sha256_of_the_der_certificate(make_node):
    import hashlib
    import ssl

    node = make_node("1.28")
    pem = (node.data / "certs" / "server.crt").read_text()
    assert fingerprint_of(node) == hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem)).hexdigest()[:12]


def test_machine_formats_from_1_24(node):
    result = node.run("add-node", "--token", TOKEN, "--format", "json")
    if node.minor < 24:
        assert result.rc == 2
        return
    answer = json.loads(result.out)
    assert answer["token"].startswith(TOKEN + "/")
    assert answer["urls"][0] == f"127.0.0.1:25000/{answer['token']}"
    assert node.run("add-node", "--format", "token").out.strip() != TOKEN


def test_join_worker_flag_is_unknown_on_1_20(make_node):
    result = make_node("1.20").run("join", f"10.77.0.1:25000/{TOKEN}", "--worker")
    assert result.rc == 2
    assert result.out.startswith("option --worker not recognized")


def test_join_rejects_hostname_from_1_30(make_node):
    result = make_node("1.30").run("join", f"master.lan:25000/{TOKEN}")
    assert result.rc == 1
    assert result.err.startswith("Invalid connection: ")
    older = make_node("1.28")
    older.scenario({"nodes": [{"status": "Ready"}], "join": JOINED_OK})
    assert older.run("join", f"master.lan:25000/{TOKEN}").rc == 0


@pytest.mark.parametrize(
    ("version", "outcome", "rc", "text"),
    [
        (
            "1.28",
            {"http_status": 500, "message": "Invalid token", "error_kind": "http"},
            6,
            "Connection failed. Invalid token (500).",
        ),
        (
            "1.20",
            {"http_status": 500, "message": "Invalid token", "error_kind": "http"},
            1,
            "Failed to join cluster. Error code 500. Invalid token",
        ),
        (
            "1.28",
            {
                "http_status": 504,
                "message": "The joining node (10.77.0.2) is already known to dqlite",
                "error_kind": "http",
            },
            6,
            "Connection failed. The joining node (10.77.0.2) is already known to dqlite (504).",
        ),
        (
            "1.24",
            {"http_status": None, "message": "Could not verify", "error_kind": "fingerprint"},
            4,
            "Joining cluster failed. Could not verify the identity of 10.77.0.1. Use '--skip-verify' to skip server "
            "certificate check.",
        ),
    ],
)
def test_join_failures_map_to_contract_texts(make_node, version, outcome, rc, text):
    node = make_node(version)
    node.scenario({"join": outcome})
    result = node.run("join", f"10.77.0.1:25000/{TOKEN}/0123456789ab")
    assert result.rc == rc
    assert result.out.splitlines() == ["Contacting cluster at 10.77.0.1", text]


def test_join_success_texts_by_version(node):
    node.scenario({"nodes": READY, "members": [{"address": "127.0.0.1:19001", "role": "spare"}], "join": JOINED_OK})
    result = node.run("join", f"10.77.0.1:25000/{TOKEN}/0123456789ab")
    assert result.rc == 0
    lines = result.out.splitlines()
    assert lines[0] == "Contacting cluster at 10.77.0.1"
    assert lines[1] == "Waiting for this node to finish joining the cluster.  "  # in dqlite at the first look
    assert (lines[-1] == "Successfully joined the cluster.") == (node.minor >= 29)
    fingerprint = None if node.minor < 21 else "0123456789ab"
    assert node.calls() == [["join", ["10.77.0.1", 25000, TOKEN, fingerprint, False, False]]]


def test_join_waiting_line_grows_by_one_token_per_try(make_node):
    """join.py: `. ` while dqlite answers without this node, `.. ` while dqlite does not answer; ten tries."""
    node = make_node("1.28")
    node.scenario({"nodes": READY, "members": [{"address": "10.77.0.1:19001", "role": "voter"}], "join": JOINED_OK})
    result = node.run("join", f"10.77.0.1:25000/{TOKEN}")
    assert result.out.splitlines()[1] == "Waiting for this node to finish joining the cluster. " + ". " * 10 + " "


@pytest.mark.parametrize(
    ("version", "message", "text"),
    [
        ("1.28", "", "Connection failed. (500)."),
        ("1.20", "", "Failed to join cluster. Error code 500."),
    ],
)
def test_join_error_without_an_agent_message(make_node, version, message, text):
    node = make_node(version)
    node.scenario({"join": {"http_status": 500, "message": message, "error_kind": "http"}})
    result = node.run("join", f"10.77.0.1:25000/{TOKEN}")
    assert result.out.splitlines() == ["Contacting cluster at 10.77.0.1", text]


def test_join_takes_only_the_json_error_of_the_agents_answer():
    from microk8s_double import agent_client

    assert agent_client.agent_error(b'{"error": "Invalid token"}') == "Invalid token"
    for body in (b"", b"b''", b"<html>oops</html>", b'{"message": "x"}', b"[1]"):
        assert agent_client.agent_error(body) == ""


def test_an_error_answer_without_json_never_leaks_a_bytes_literal():
    import http.server
    import threading

    from microk8s_double import wire

    class Empty(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.send_response(500)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Empty)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(wire.RemoteError) as failure:
            wire.call("127.0.0.1", server.server_address[1], "POST", "/cluster/api/v2.0/join", {"token": "x"})
    finally:
        server.shutdown()
    assert (failure.value.status, failure.value.message, failure.value.body) == (500, "", b"")


def test_join_worker_prints_the_worker_block(make_node):
    node = make_node("1.28")
    node.scenario({"join": JOINED_OK})
    result = node.run("join", f"10.77.0.1:25000/{TOKEN}", "--worker")
    assert result.rc == 0
    lines = result.out.splitlines()
    assert lines[:3] == [
        "Contacting cluster at 10.77.0.1",
        "",
        "The node has joined the cluster and will appear in the nodes list in a few seconds.",
    ]
    assert lines[-2:] == ["    /var/snap/microk8s/current/args/traefik/provider.yaml", ""]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def real_agent(make_node):
    """D2's cluster agent on loopback, serving a 1.28 node."""
    master = make_node("1.28", "master")
    port = free_port()
    settings = json.loads((master.root / "settings.json").read_text())
    settings.update(bind_address="127.0.0.1", ports=dict(settings["ports"], cluster_agent=port))
    (master.root / "settings.json").write_text(json.dumps(settings))
    agent = subprocess.Popen(
        [sys.executable, "-P", "-c", "from microk8s_double import agent; agent.main()"], env=master.env
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port
    agent.kill()
    agent.wait()


@pytest.mark.parametrize(
    ("version", "rc", "text"),
    [("1.28", 6, "Connection failed. Invalid token (500)."), ("1.20", 1, "Failed to join cluster. Error code 500. ")],
)
def test_bad_token_against_the_real_agent(real_agent, make_node, version, rc, text):
    port = real_agent
    joiner = make_node(version)
    joiner.scenario({"join": "real"})
    skip = ["--skip-verify"] if version != "1.20" else []
    result = joiner.run("join", f"127.0.0.1:{port}/{TOKEN}", *skip)
    assert result.rc == rc
    assert result.out.splitlines()[-1].startswith(text)


def test_leave_refuses_a_node_that_never_joined_from_1_28(node):
    result = node.run("leave")
    if node.minor >= 28:
        assert (result.rc, result.out) == (1, "This MicroK8s deployment is not acting as a node in a cluster.\n")
        assert node.calls() == []
    else:  # <= 1.27 the wrapper only asks for a dqlite node: a lone node goes ahead and is reset (wiped)
        assert (result.rc, result.out) == (0, "Generating new cluster certificates.\nWaiting for node to start.  \n")
        assert node.calls() == [["leave", []]]


def test_leave_waits_for_the_api_with_one_dot_per_try(make_node):
    node = make_node("1.28")
    node.lock("no-cert-reissue").touch()
    node.lock("clustered.lock").touch()
    node.scenario({})  # the API server does not answer: ten tries, each `. `
    result = node.run("leave")
    assert result.rc == 0
    assert (
        result.out
        == "Configuring services.\nGenerating new cluster certificates.\nWaiting for node to start. "
        + (". " * 10)
        + " \n"
    )


def test_leave_arguments_by_version(node):
    node.lock("no-cert-reissue").touch()
    result = node.run("leave", "now")
    if node.minor <= 22:
        assert (result.rc, result.out) == (
            1,
            "This command will remove the node from the cluster. No arguments are needed.\n",
        )
    else:
        assert result.rc == 2 and result.err.endswith("Error: Got unexpected extra argument (now)\n")
    assert node.calls() == []


def test_leave_passes_the_datastore_refusal_on(make_node):
    node = make_node("1.32")
    node.lock("no-cert-reissue").touch()
    refusal = "This node currently holds the only copy of the Kubernetes database so it cannot leave the cluster."
    node.scenario({"leave": [3, refusal]})
    result = node.run("leave")
    assert (result.rc, result.out) == (3, refusal + "\n")


def test_remove_node_arguments(node):
    assert node.run("remove-node").out == "Please provide the node you want to remove.\n"
    wrong = node.run("remove-node", "node-2", "--forse")
    assert (wrong.rc, wrong.out) == (1, "Please provide the node and the optional --force flag.\n")
    node.scenario({"remove_node": [0, ""]})
    done = node.run("remove-node", "node-2", "--force")
    assert (done.rc, done.out) == (0, "")
    assert node.calls() == [["remove_node", ["node-2", True]]]


def test_remove_node_on_a_worker_points_at_leave_on_one_line(node):
    node.lock("clustered.lock").touch()
    result = node.run("remove-node", "node-2")
    assert (result.rc, result.out) == (
        1,
        "This MicroK8s deployment is acting as a node in a cluster. Please use microk8s leave.\n",
    )


def test_remove_node_of_a_node_kubernetes_does_not_know_shows_kubectls_error(node):
    node.scenario({"nodes": READY, "remove_node": [1, "Node ghost does not exist in Kubernetes."]})
    result = node.run("remove-node", "ghost")
    assert (result.rc, result.out) == (1, "Node ghost does not exist in Kubernetes.\n")
    assert result.err == 'Error from server (NotFound): nodes "ghost" not found\n'
