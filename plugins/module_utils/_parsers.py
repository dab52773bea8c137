# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
#
# Private to this collection: pure parsers of microk8s, snap and ctr output.
# No AnsibleModule in here: every function takes text and returns plain data, so it is tested against recorded
# outputs (tests/unit/plugins/module_utils/fixtures). Formats follow shared/docs/microk8s-cli-contract.md.
from __future__ import annotations

import json
import re

NOT_RUNNING = "microk8s is not running. Use microk8s inspect for a deeper inspection."
STOPPED = "microk8s is not running, try microk8s start"
WORKER = "This MicroK8s deployment is acting as a node in a cluster."
LOW_MEMORY = "This node does not have enough RAM to host the Kubernetes control plane services"
NO_PERMISSION = "Insufficient permissions to access MicroK8s."

#: dqlite roles as `status --format yaml` names them (or numbers them) -> the key in the `datastore` dict.
ROLES = {"voter": "voters", "standby": "standby", "spare": "spare", "0": "voters", "1": "standby", "2": "spare"}


# -- versions -----------------------------------------------------------------------------------------------------


def parse_version(text, tracking=None):
    """(major, minor) from `v1.28.3`, `v1.20.4-34+1ae8c29bbb48f7`, `MicroK8s v1.32.0 revision 7537` or a tracking
    channel such as `1.28/stable`; None when neither says."""
    for candidate in (text or "", tracking or ""):
        match = re.search(r"v?(\d+)\.(\d+)", candidate)
        if match:
            return int(match.group(1)), int(match.group(2))
    return None


def parse_snap_list(text):
    """`snap list` rows by name: version, rev, tracking, publisher, notes (header skipped)."""
    snaps = {}
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 4:
            continue
        name, version, rev, tracking = fields[:4]
        snaps[name] = {
            "name": name,
            "version": version,
            "revision": rev,
            "tracking": tracking,
            "publisher": fields[4] if len(fields) > 4 else "",
            "notes": fields[5] if len(fields) > 5 else "",
        }
    return snaps


# -- status ---------------------------------------------------------------------------------------------------------


def classify_status_text(text):
    """Which of the status outputs that are not a status report this is, or None for a report."""
    text = text or ""
    for marker, state in (
        (NO_PERMISSION, "no_permission"),
        (WORKER, "worker"),
        (LOW_MEMORY, "low_memory"),
        (STOPPED, "stopped"),
        (NOT_RUNNING, "not_running"),
    ):
        if marker in text:
            return state
    return None


def _empty_status(state, message=""):
    return {
        "state": state,
        "running": state == "running",
        "ready": state == "running",
        "high_availability": False,
        "datastore": {"voters": [], "standby": [], "spare": []},
        "addons": [],
        "message": message,
    }


def _split_addon_name(name, repository=None):
    """`core/dns` -> ("dns", "core"); `dns` -> ("dns", repository)."""
    if "/" in name:
        repository, name = name.split("/", 1)
    return name, repository


def _scalar(value):
    value = value.strip()
    return {"True": True, "False": False, "": None}.get(value, value)


def parse_status_yaml(text):
    """`microk8s status --format yaml` (hand-printed by microk8s: Python True/False, list items at any indent, the
    `message:` key printed after the high-availability block)."""
    status = _empty_status("running")
    section = None
    item = None
    for raw in (text or "").splitlines():
        if not raw.strip():
            continue
        line = raw.strip()
        if not raw.startswith(" "):
            section, item = line.rstrip(":"), None
            continue
        is_item = line.startswith("- ")
        key, _colon, value = (line[2:] if is_item else line).partition(":")
        key, value = key.strip(), _scalar(value)
        if key == "message":
            status["message"] = value or ""
            continue
        if section == "microk8s" and key == "running":
            status["running"] = value is True
        elif section in ("high-availability", "addons") and (is_item or item is not None) and key != "nodes":
            if is_item:
                item = {}
                (status["addons"] if section == "addons" else status.setdefault("_nodes", [])).append(item)
            item[key] = value
        elif section == "addons" and not is_item:
            # deprecated `--yaml` short form: `  core/dns: enabled`
            name, repository = _split_addon_name(key)
            status["addons"].append({"name": name, "repository": repository, "status": value})
    for node in status.pop("_nodes", []):
        group = ROLES.get(str(node.get("role")))
        if group and node.get("address"):
            status["datastore"][group].append(node["address"])
    # yaml `enabled` only says the ha-cluster addon is on; HA itself means more than two voters, as in pretty.
    status["high_availability"] = ha_formed(status)
    status["addons"] = [_normalise_addon(addon) for addon in status["addons"]]
    if not status["running"]:
        status["state"] = "not_running"
        status["message"] = status["message"] or NOT_RUNNING
    return status


def _normalise_addon(addon):
    name, repository = _split_addon_name(str(addon.get("name", "")), addon.get("repository"))
    return {
        "name": name,
        "repository": repository,
        "description": addon.get("description") or "",
        "version": "" if addon.get("version") is None else str(addon.get("version")),
        "status": addon.get("status") or "disabled",
    }


_PRETTY_ADDON = re.compile(r"^\s+(?P<name>\S+)\s+#\s+(?:\((?P<repo>[^)]+)\)\s+)?(?P<description>.*)$")


def parse_status_pretty(text):
    """`microk8s status` (pretty): HA line, datastore master/standby lines, enabled/disabled addon lists."""
    state = classify_status_text(text)
    if state:
        return _empty_status(state, (text or "").strip())
    status = _empty_status("running")
    group = None
    for line in (text or "").splitlines():
        stripped = line.strip()
        if stripped.startswith("high-availability:"):
            status["high_availability"] = stripped.split(":", 1)[1].strip() == "yes"
        elif stripped.startswith("datastore master nodes:"):
            status["datastore"]["voters"] = _addresses(stripped)
        elif stripped.startswith("datastore standby nodes:"):
            status["datastore"]["standby"] = _addresses(stripped)
        elif stripped in ("enabled:", "disabled:"):
            group = stripped[:-1]
        elif group and _PRETTY_ADDON.match(line):
            match = _PRETTY_ADDON.match(line)
            status["addons"].append(
                _normalise_addon(
                    {
                        "name": match.group("name"),
                        "repository": match.group("repo"),
                        "description": match.group("description").strip(),
                        "status": group,
                    }
                )
            )
    return status


def _addresses(line):
    value = line.split(":", 1)[1].strip()
    return [] if value in ("", "none") else value.split()


def parse_status_short(text):
    """`microk8s status --format short`: `dns: enabled` (1.20-1.23) or `core/dns: enabled` (1.24+)."""
    state = classify_status_text(text)
    if state:
        return _empty_status(state, (text or "").strip())
    status = _empty_status("running")
    for line in (text or "").splitlines():
        key, sep, value = line.strip().partition(": ")
        if sep and value in ("enabled", "disabled"):
            name, repository = _split_addon_name(key)
            status["addons"].append(_normalise_addon({"name": name, "repository": repository, "status": value}))
    return status


def parse_status(stdout, stderr="", rc=0):
    """Normalised status from any `microk8s status` run: the format is recognised from the text.

    Returns a dict with `state` (running, not_running, stopped, worker, low_memory, no_permission, error),
    `running`, `high_availability`, `datastore` {voter, standby, spare}, `addons` [{name, repository, description,
    version, status}] and `message`. A worker node and a stopped node answer with rc 0 and a text, not a report.
    """
    combined = "%s\n%s" % (stdout or "", stderr or "")
    state = classify_status_text(combined)
    if state and state != "not_running":
        return _empty_status(state, combined.strip())
    text = (stdout or "").lstrip()
    if text.startswith("microk8s:"):
        status = parse_status_yaml(text)
    elif text.startswith("microk8s is running"):
        pretty = re.search(r"^(high-availability:|\s+(enabled|disabled):$)", text, re.MULTILINE)
        status = parse_status_pretty(text) if pretty else parse_status_short(text)
    elif state == "not_running":
        status = _empty_status("not_running", NOT_RUNNING)
    else:
        status = _empty_status("error", combined.strip())
    status["ready"] = status["state"] == "running"
    return status


def ha_formed(status):
    """High availability in MicroK8s' own sense: more than two datastore voters."""
    return len(status["datastore"]["voters"]) > 2


def datastore_nodes(status):
    """Every dqlite member this node lists (voters, standbys, spares): the control-plane nodes it sees."""
    return [address for role in ("voters", "standby", "spare") for address in status["datastore"][role]]


def member(status):
    """Whether this node is part of a multi-node cluster: a worker (joined with --worker), or a control-plane node
    whose datastore lists another member. A lone node lists only itself (127.0.0.1:19001 until its first join)."""
    return status["state"] == "worker" or len(datastore_nodes(status)) > 1


def expected_voters(status):
    """The voters a healthy datastore keeps for the control-plane nodes this node sees (go-dqlite's defaults, contract
    section 6): 1 for one or two control-plane nodes, 3 from three on (the others are standbys and spares).
    None where it cannot be known: a worker, a stopped node, or a datastore that did not answer."""
    count = len(datastore_nodes(status))
    if status["state"] == "worker" or count == 0:
        return None
    return 1 if count < 3 else 3


def qualified_name(addon):
    """`core/dns` for a parsed addon with a repository (1.24+), `dns` without one (1.20-1.23)."""
    return "%s/%s" % (addon["repository"], addon["name"]) if addon["repository"] else addon["name"]


def addon_state(status, name):
    """`enabled`/`disabled` for `dns` or `core/dns` in a parsed status; None when the addon is unknown."""
    wanted, repository = _split_addon_name(name)
    for addon in status["addons"]:
        if addon["name"] == wanted and (repository is None or addon["repository"] in (None, repository)):
            return addon["status"]
    return None


# -- add-node and join --------------------------------------------------------------------------------------------

JOIN_URL = re.compile(
    r"(?P<host>[^\s:/]+|\[[0-9a-fA-F:]+\]):(?P<port>\d+)/(?P<token>[^/\s]+)(?:/(?P<fingerprint>[0-9a-f]+))?"
)
_JOIN_LINE = re.compile(r"microk8s join (\S+)")


def parse_join_url(url):
    """`IP:PORT/TOKEN[/FINGERPRINT]` -> dict(host, port, token, fingerprint); None when it is not one."""
    match = JOIN_URL.fullmatch((url or "").strip())
    if not match:
        return None
    parts = match.groupdict()
    parts["port"] = int(parts["port"])
    return parts


def parse_add_node(text):
    """Join URLs from `add-node` in any format: json/yaml (1.24+), pretty/short text (all versions), or
    token-check (`TOKEN/FP`, 1.23+: no address, so `urls` is empty and `token`/`fingerprint` are set).
    Returns dict(urls=[...unique, in order...], token, fingerprint, worker_hint)."""
    text = (text or "").strip()
    urls = []
    if text.startswith("{"):
        urls = list(json.loads(text).get("urls") or [])
    elif text.startswith("token:") or text.startswith("urls:"):
        urls = [line.strip()[2:].strip() for line in text.splitlines() if line.strip().startswith("- ")]
    else:
        urls = [match.group(1) for match in _JOIN_LINE.finditer(text)]
    unique = []
    for url in urls:
        if url not in unique and parse_join_url(url):
            unique.append(url)
    result = {"urls": unique, "token": None, "fingerprint": None, "worker_hint": "--worker" in text}
    if unique:
        first = parse_join_url(unique[0])
        result.update(token=first["token"], fingerprint=first["fingerprint"])
    elif re.fullmatch(r"[^/\s]+(/[0-9a-f]+)?", text):
        token, _slash, fingerprint = text.partition("/")
        result.update(token=token, fingerprint=fingerprint or None)
    return result


#: Join failures: (kind, pattern of the text microk8s prints, what the user should do).
JOIN_ERRORS = (
    (
        "invalid_token",
        r"Invalid token",
        "the join token was already used or has expired: generate a new one with "
        "onprem.microk8s.microk8s_token and join again",
    ),
    (
        "already_member",
        r"already known to dqlite",
        "this node is already a datastore member of that cluster; if it "
        "is not in `kubectl get nodes`, run `microk8s remove-node <node> --force` on the cluster and retry",
    ),
    ("same_ip", r"has the same IP", "the node tried to join itself: point master/url at another node"),
    (
        "hostname_unresolved",
        r"does not resolve to the IP",
        "the cluster cannot resolve this node's hostname to its "
        "address: add it to /etc/hosts on every node (microk8s_node_manage_etc_hosts) or fix DNS",
    ),
    ("not_ha", r"not an HA MicroK8s cluster", "the cluster is not HA (dqlite): it cannot take this join"),
    (
        "port_mismatch",
        r"The port of the cluster agent",
        "the cluster agent listens on another port: use the port add-node printed",
    ),
    ("worker_unsupported", r"supports joining worker nodes", "the cluster is too old to take worker nodes"),
    (
        "fingerprint",
        r"Could not verify the identity|Peer node verification failed",
        "the cluster's certificate "
        "does not match the fingerprint in the join URL: take a fresh URL from the cluster or use skip_verify",
    ),
    (
        "invalid_connection",
        r"Invalid connection",
        "from 1.30 the master must be an IP address (not a hostname), port 1-65535, token of 32+ characters",
    ),
    (
        "low_memory",
        r"does not have enough RAM|low.memory",
        "the node has too little RAM for a control-plane node: join it as a worker",
    ),
    (
        "version_skew",
        r"update MicroK8s to version",
        "the joining node runs an older MicroK8s than the cluster: use the same snap channel on every node",
    ),
    (
        "unreachable",
        r"ensure the master node is reachable|Connection refused|timed out|No route to host|"
        r"Connecting to cluster failed|Traceback",
        "node unreachable on port 25000: check the address, that the "
        "cluster agent runs (snap services microk8s) and that firewalls allow TCP 25000",
    ),
    ("unknown_option", r"not recognized|no such option", "this MicroK8s version does not know that join option"),
)


def classify_join_failure(rc, stdout, stderr):
    """(kind, advice) for a failed `microk8s join`; kind `unknown` when no documented text matched."""
    text = "%s\n%s" % (stdout or "", stderr or "")
    for kind, pattern, advice in JOIN_ERRORS:
        if re.search(pattern, text):
            return kind, advice
    return "unknown", "microk8s join failed with exit code %s" % rc


def join_succeeded(rc, stdout):
    """rc 0 is necessary, not sufficient (contract §6): membership must be checked afterwards."""
    return rc == 0 and "Connection failed" not in (stdout or "")


# -- containerd images --------------------------------------------------------------------------------------------


def normalise_image_ref(ref):
    """The name containerd records: `hello:local` -> `docker.io/library/hello:local`."""
    ref = ref.strip()
    name, at, digest = ref.partition("@")
    first = name.split("/", 1)[0]
    if "/" not in name:
        name = "docker.io/library/" + name
    elif "." not in first and ":" not in first and first != "localhost":
        name = "docker.io/" + name
    if not at and ":" not in name.rsplit("/", 1)[-1]:
        name += ":latest"
    return name + at + digest


def parse_ctr_images(text):
    """`ctr images ls`: rows of REF TYPE DIGEST SIZE PLATFORMS LABELS -> {ref: {digest, type, size, platforms}}."""
    images = {}
    for line in (text or "").splitlines()[1:]:
        fields = line.split()
        if len(fields) < 3:
            continue
        ref, media_type, digest = fields[:3]
        platforms = fields[5] if len(fields) > 5 else ""
        images[ref] = {
            "ref": ref,
            "type": media_type,
            "digest": digest,
            "size": " ".join(fields[3:5]) if len(fields) > 4 else "",
            "platforms": platforms.split(",") if platforms and platforms != "-" else [],
        }
    return images


_UNPACKING = re.compile(r"unpacking (\S+) \((sha256:[0-9a-f]{64})\)\.\.\.done")


def parse_ctr_import(text):
    """`ctr image import` lines `unpacking <ref> (sha256:...)...done` -> [{ref, digest}]."""
    return [{"ref": ref, "digest": digest} for ref, digest in _UNPACKING.findall(text or "")]


def parse_docker_archive_manifest(manifest_json):
    """`manifest.json` of a docker-archive (`docker save`): [{ref, config}] per RepoTag; config is the image id
    (`sha256:<hex>` of the config blob), which containerd keeps as the image's config digest."""
    images = []
    for entry in json.loads(manifest_json):
        config = entry.get("Config", "")
        config_hex = re.search(r"([0-9a-f]{64})", config)
        for tag in entry.get("RepoTags") or []:
            images.append(
                {
                    "ref": normalise_image_ref(tag),
                    "config": "sha256:" + config_hex.group(1) if config_hex else None,
                    "digest": None,
                }
            )
    return images


_REF_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")


def parse_oci_index(index_json):
    """`index.json` of an OCI layout archive: [{ref, digest}] for each manifest that names an image. A bare
    `org.opencontainers.image.ref.name` tag (`local`) has no repository, so it cannot name an image by itself.
    containerd records OCI names verbatim (`images/archive` AddRefPrefix keeps any name holding `/`, `:` or `@`,
    only docker-archive RepoTags are normalised), so `hello:local` here stays `hello:local`."""
    images = []
    for manifest in json.loads(index_json).get("manifests") or []:
        annotations = manifest.get("annotations") or {}
        name = annotations.get(_REF_ANNOTATIONS[0]) or annotations.get(_REF_ANNOTATIONS[1])
        if name and ("/" in name or ":" in name):
            images.append({"ref": name, "digest": manifest.get("digest"), "config": None})
    return images


def manifest_config_digest(manifest_json):
    """The config digest (image id) of an image manifest blob, as `ctr content get <digest>` prints it."""
    return (json.loads(manifest_json).get("config") or {}).get("digest")


# -- node reads (node_info) ---------------------------------------------------------------------------------------


def parse_dpkg_query(text, names):
    """`dpkg-query --show --showformat='${Package} ${db:Status-Status}\\n' NAMES...`: {name: installed} for each
    name asked (a package dpkg does not know is printed on stderr only: not installed)."""
    installed = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            installed[fields[0].split(":")[0]] = fields[1] == "installed"
    return {name: installed.get(name, False) for name in names}


def parse_systemctl_show(text):
    """`systemctl show --property=ActiveState,UnitFileState UNIT`: {active, enabled} (a unknown unit: both false)."""
    values = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    return {
        "active": values.get("ActiveState") == "active",
        "enabled": values.get("UnitFileState") in ("enabled", "enabled-runtime", "static", "alias"),
    }


def parse_ip_addresses(text):
    """`ip -o addr show`: every address configured on the node, without its prefix length."""
    addresses = []
    for line in text.splitlines():
        fields = line.split()
        for family in ("inet", "inet6"):
            if family in fields and fields.index(family) + 1 < len(fields):
                addresses.append(fields[fields.index(family) + 1].split("/")[0])
    return addresses


def parse_subject_alt_names(text):
    """`openssl x509 -noout -ext subjectAltName`: {ip: [...], dns: [...]} (openssl prints `IP Address:a.b.c.d`)."""
    names = {"ip": [], "dns": []}
    for entry in re.split(r",\s*|\n\s*", text):
        key, _colon, value = entry.strip().partition(":")
        if key == "IP Address":
            names["ip"].append(value.strip())
        elif key == "DNS":
            names["dns"].append(value.strip())
    return names


def parse_hosts_block_names(text, marker):
    """The host names of an /etc/hosts block between `marker`'s BEGIN and END lines (blockinfile's `{mark}`), in
    order; none when the block is missing or not closed."""
    begin, end = marker.replace("{mark}", "BEGIN"), marker.replace("{mark}", "END")
    names, inside = [], None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped == begin:
            inside = []
        elif stripped == end and inside is not None:
            names.extend(inside)
            inside = None
        elif inside is not None and stripped and not stripped.startswith("#"):
            inside.extend(stripped.split()[1:])
    return names
