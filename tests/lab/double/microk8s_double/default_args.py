# SPDX-License-Identifier: GPL-3.0-or-later
"""MicroK8s' `microk8s-resources/default-args/` per version profile, for the files whose flags the double honours
(kube-controller-manager, kube-scheduler, kubelet, kube-apiserver) and kubelite's own. Read from canonical/microk8s'
release branches 1.20-1.35 (1.36 as 1.35): MicroK8s sets no node-monitor or toleration flag (the Kubernetes
defaults apply) and, from 1.21, `--leader-elect-lease-duration=60s --leader-elect-renew-deadline=30s` for the
controller manager and the scheduler. build.py writes these files into the snap as `$SNAP/default-args/`, and the
install hook copies them to `$SNAP_DATA/args/` as the real hook does.
"""

from __future__ import annotations

from pathlib import Path

from .profiles import Profile

KUBELET_CIPHERS = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,"
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_RSA_WITH_AES_256_GCM_SHA384,"
    "TLS_RSA_WITH_AES_128_GCM_SHA256"
)
APISERVER_CIPHERS = ",".join(
    ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
    + [
        f"TLS_ECDHE_{key}_WITH_{cipher}"
        for key, ciphers in (
            ("ECDSA", "AES_128_CBC_SHA AES_128_GCM_SHA256 AES_256_CBC_SHA AES_256_GCM_SHA384 CHACHA20_POLY1305 "
                      "CHACHA20_POLY1305_SHA256"),
            ("RSA", "3DES_EDE_CBC_SHA AES_128_CBC_SHA AES_128_GCM_SHA256 AES_256_CBC_SHA AES_256_GCM_SHA384 "
                    "CHACHA20_POLY1305 CHACHA20_POLY1305_SHA256"),
        )
        for cipher in ciphers.split()
    ]
    + [f"TLS_RSA_WITH_{c}" for c in ("3DES_EDE_CBC_SHA", "AES_128_CBC_SHA", "AES_128_GCM_SHA256", "AES_256_CBC_SHA",
                                     "AES_256_GCM_SHA384")]
)  # fmt: skip
LEADER_ELECTION = ["--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=30s"]


def controller_manager(minor: int) -> list[str]:
    return [
        "--kubeconfig=${SNAP_DATA}/credentials/controller.config",
        "--service-account-private-key-file=${SNAP_DATA}/certs/serviceaccount.key",
        "--root-ca-file=${SNAP_DATA}/certs/ca.crt",
        "--cluster-signing-cert-file=${SNAP_DATA}/certs/ca.crt",
        "--cluster-signing-key-file=${SNAP_DATA}/certs/ca.key",
        *(["--address=127.0.0.1"] if minor < 24 else []),
        "--use-service-account-credentials",
        *(LEADER_ELECTION if minor >= 21 else []),
        *(["--profiling=false"] if minor >= 23 else []),
    ]


def scheduler(minor: int) -> list[str]:
    return [
        "--kubeconfig=${SNAP_DATA}/credentials/scheduler.config",
        *(["--address=127.0.0.1"] if minor < 24 else []),
        *(LEADER_ELECTION if minor >= 21 else []),
        *(["--profiling=false"] if minor >= 23 else []),
    ]


def kubelet(minor: int) -> list[str]:
    labels = "microk8s.io/cluster=true" + (
        ",node.kubernetes.io/microk8s-controlplane=microk8s-controlplane" if minor >= 23 else ""
    )
    return [
        "--kubeconfig=${SNAP_DATA}/credentials/kubelet.config",
        "--cert-dir=${SNAP_DATA}/certs",
        "--client-ca-file=${SNAP_DATA}/certs/ca.crt",
        "--anonymous-auth=false",
        *(["--network-plugin=cni"] if minor < 24 else []),
        "--root-dir=${SNAP_COMMON}/var/lib/kubelet",
        *(["--log-dir=${SNAP_COMMON}/var/log"] if minor == 25 else []),
        "--fail-swap-on=false",
        *(["--cni-conf-dir=${SNAP_DATA}/args/cni-network/", "--cni-bin-dir=${SNAP_DATA}/opt/cni/bin/"]
          if minor < 24 else []),
        *(["--feature-gates=DevicePlugins=true"] if minor < 28 else []),
        '--eviction-hard="memory.available<100Mi,nodefs.available<1Gi,imagefs.available<1Gi"',
        *(["--container-runtime=remote"] if minor < 27 else []),
        "--container-runtime-endpoint=${SNAP_COMMON}/run/containerd.sock",
        "--containerd=${SNAP_COMMON}/run/containerd.sock",
        f'--node-labels="{labels}"',
        "--authentication-token-webhook=true",
        *(["--read-only-port=0"] if minor >= 24 else []),
        *([f"--tls-cipher-suites={KUBELET_CIPHERS}", "--serialize-image-pulls=false"] if minor >= 28 else []),
    ]  # fmt: skip


def apiserver(minor: int) -> list[str]:
    kubelet_client = "apiserver-kubelet-client" if minor >= 28 else "server"
    if minor >= 23:
        storage = ['--etcd-servers="unix://${SNAP_DATA}/var/kubernetes/backend/kine.sock:12379"']
    else:
        storage = ["--insecure-port=0", "--storage-backend=dqlite",
                   "--storage-dir=${SNAP_DATA}/var/kubernetes/backend/"]  # fmt: skip
    lines = [
        "--cert-dir=${SNAP_DATA}/certs",
        "--service-cluster-ip-range=10.152.183.0/24",
        "--authorization-mode=AlwaysAllow",
        "--service-account-key-file=${SNAP_DATA}/certs/serviceaccount.key",
        "--client-ca-file=${SNAP_DATA}/certs/ca.crt",
        "--tls-cert-file=${SNAP_DATA}/certs/server.crt",
        "--tls-private-key-file=${SNAP_DATA}/certs/server.key",
        *([f"--tls-cipher-suites={APISERVER_CIPHERS}"] if minor >= 28 else []),
        f"--kubelet-client-certificate=${{SNAP_DATA}}/certs/{kubelet_client}.crt",
        f"--kubelet-client-key=${{SNAP_DATA}}/certs/{kubelet_client}.key",
        "--secure-port=16443",
        *(["--token-auth-file=${SNAP_DATA}/credentials/known_tokens.csv"] if minor < 28 else []),
        *storage,
        "--allow-privileged=true",
        "--service-account-issuer='https://kubernetes.default.svc'",
        "--service-account-signing-key-file=${SNAP_DATA}/certs/serviceaccount.key",
        *(["--feature-gates=RemoveSelfLink=false"] if minor < 24 else []),
        *(["--event-ttl=5m", "--profiling=false"] if minor >= 23 else []),
        *(["--feature-gates=ListFromCacheSnapshot=false,SizeBasedListCostEstimate=false,DetectCacheInconsistency=false"]
          if minor >= 34 else []),
        "",
        "# Enable the aggregation layer",
        "--requestheader-client-ca-file=${SNAP_DATA}/certs/front-proxy-ca.crt",
        "--requestheader-allowed-names=front-proxy-client",
        "--requestheader-extra-headers-prefix=X-Remote-Extra-",
        "--requestheader-group-headers=X-Remote-Group",
        "--requestheader-username-headers=X-Remote-User",
        "--proxy-client-cert-file=${SNAP_DATA}/certs/front-proxy-client.crt",
        "--proxy-client-key-file=${SNAP_DATA}/certs/front-proxy-client.key",
        "#~Enable the aggregation layer",
    ]  # fmt: skip
    if minor >= 28:
        lines += [
            "--enable-admission-plugins=EventRateLimit",
            "--admission-control-config-file=${SNAP_DATA}/args/admission-control-config-file.yaml",
            "--kubelet-certificate-authority=${SNAP_DATA}/certs/ca.crt",
            "--kubelet-preferred-address-types=InternalIP,Hostname,InternalDNS,ExternalDNS,ExternalIP",
        ]
    if minor == 32:
        lines += ["", "# Disable the watchlist feature until k8s-dqlite can handle it",
                  "--feature-gates=WatchList=false"]  # fmt: skip
    return lines


def kubelite() -> list[str]:
    return [
        "--scheduler-args-file=$SNAP_DATA/args/kube-scheduler",
        "--controller-manager-args-file=$SNAP_DATA/args/kube-controller-manager",
        "--proxy-args-file=$SNAP_DATA/args/kube-proxy",
        "--kubelet-args-file=$SNAP_DATA/args/kubelet",
        "--apiserver-args-file=$SNAP_DATA/args/kube-apiserver",
        "--kubeconfig-file=$SNAP_DATA/credentials/client.config",
        "--start-control-plane=true",
    ]


def files(profile: Profile) -> dict[str, str]:
    """File name -> content of the profile's default args (kubelite exists from 1.21)."""
    minor = profile.minor
    made = {
        "kube-apiserver": apiserver(minor),
        "kube-controller-manager": controller_manager(minor),
        "kube-scheduler": scheduler(minor),
        "kubelet": kubelet(minor),
    }
    if minor >= 21:
        made["kubelite"] = kubelite()
    return {name: "\n".join(lines) + "\n" for name, lines in made.items()}


def write(profile: Profile, directory: Path) -> None:
    """The files into `directory` (the snap's default-args/, or a node's args/ in the contract suite)."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files(profile).items():
        (directory / name).write_text(text)
