# SPDX-License-Identifier: GPL-3.0-or-later
"""Images as the kubelet sees them through containerd (namespace `k8s.io`): reference normalization, what the
pull policy asks for, and the pull itself. The lab is air-gapped, so a pull fails as containerd's does when no
registry answers (the double never contacts one): ErrImagePull, then ImagePullBackOff while the back-off runs."""

from __future__ import annotations

from ..api.defaults import pull_policy

DEFAULT_REGISTRY = "docker.io"
REGISTRY_HOSTS = {"docker.io": "registry-1.docker.io"}


def normalize(image: str) -> str:
    """The full reference containerd records: `hello:local` -> `docker.io/library/hello:local`, tag `latest` when
    neither tag nor digest is given."""
    name, _sep, digest = image.partition("@")
    first, _slash, rest = name.partition("/")
    if not rest:
        name = f"{DEFAULT_REGISTRY}/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"{DEFAULT_REGISTRY}/{name}"
    if digest:
        return f"{name}@{digest}"
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


def effective_policy(container: dict) -> str:
    return container.get("imagePullPolicy") or pull_policy(container.get("image", ""))


def needs_pull(container: dict, present: bool) -> bool | None:
    """True: pull; False: use the local image; None: may not pull and it is missing (ErrImageNeverPull)."""
    policy = effective_policy(container)
    if policy == "Always":
        return True
    if present:
        return False
    return None if policy == "Never" else True


def never_pull_message(image: str) -> str:
    return f'Container image "{image}" is not present with pull policy of Never'


def pull_error(image: str) -> str:
    """containerd's answer to a pull when the registry's name does not resolve (no DNS, no route out)."""
    ref = normalize(image)
    name, _sep, digest = ref.partition("@")
    repository, tag = (name, digest) if digest else name.rsplit(":", 1)
    registry, _slash, path = repository.partition("/")
    host = REGISTRY_HOSTS.get(registry, registry)
    return (
        f'rpc error: code = Unknown desc = failed to pull and unpack image "{ref}": failed to resolve reference '
        f'"{ref}": failed to do request: Head "https://{host}/v2/{path}/manifests/{tag}": dial tcp: lookup {host}: '
        "Temporary failure in name resolution"
    )


def backoff_message(image: str) -> str:
    return f'Back-off pulling image "{image}"'


def parse_listing(text: str) -> dict[str, str]:
    """`ctr images ls` -> {ref: manifest digest} (the header line and the `sha256:` image-id refs left out)."""
    found = {}
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 3 and not fields[0].startswith("sha256:"):
            found[fields[0]] = fields[2]
    return found


def find(image: str, listing: dict[str, str]) -> str | None:
    """The stored ref for a container's image: by name:tag, or by repository and digest."""
    ref = normalize(image)
    if ref in listing:
        return ref
    repository, _sep, digest = ref.partition("@")
    if digest:
        return next((r for r, d in listing.items() if d == digest and r.rsplit(":", 1)[0] == repository), None)
    return None
