# SPDX-License-Identifier: GPL-3.0-or-later
"""Leader election of the controllers: the holder of Lease `kube-system/kube-controller-manager`
(coordination.k8s.io/v1) runs them, as kube-controller-manager's `--leader-elect` does, so exactly one control
plane does at a time. Timings from `args/kube-controller-manager` (kubeargs.py): every `--leader-elect-retry-period`
(default 2s) the holder renews and the others try to acquire; another node takes the lease once `renewTime` is
older than the lease's `leaseDurationSeconds` (`--leader-elect-lease-duration`, MicroK8s 1.21+ ships 60s); a holder
that cannot renew for `--leader-elect-renew-deadline` (MicroK8s: 30s) stops leading. Every change is a
compare-and-swap on the Lease's resourceVersion, so two candidates never both win. A candidate's identity is
`<hostname>_<uuid>`, new each time kubelite starts (kube-controller-manager's "uniquifier"), and the lease is not
released when kubelite stops: a restarted holder is a new candidate and waits, as every other, until the lease its
previous run held expires (up to `--leader-elect-lease-duration` with no controllers running).
"""

from __future__ import annotations

import datetime
import time
import uuid

from ..kubeclient import ApiError, KubeClient

NAMESPACE, NAME = "kube-system", "kube-controller-manager"
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime(MICRO_TIME)


def identity(hostname: str) -> str:
    """This run's candidate identity, as kube-controller-manager's: the host name and a fresh UUID."""
    return f"{hostname}_{uuid.uuid4()}"


def expired(lease: dict, moment: datetime.datetime) -> bool:
    spec = lease.get("spec", {})
    renewed = spec.get("renewTime")
    if not spec.get("holderIdentity") or not renewed:
        return True
    last = datetime.datetime.strptime(renewed, MICRO_TIME).replace(tzinfo=datetime.timezone.utc)
    return (moment - last).total_seconds() > float(spec.get("leaseDurationSeconds", 15))


class Election:
    def __init__(
        self, client: KubeClient, identity: str, duration: float = 15, renew_deadline: float = 10, retry: float = 2
    ):
        self.client, self.identity, self.duration = client, identity, duration
        self.renew_deadline, self.retry_period = renew_deadline, retry
        self.renewed: float | None = None  # monotonic time of the last successful acquire or renew
        self.held: dict | None = None  # the Lease as this node last wrote it (a renewal then needs no read)

    def step(self) -> bool:
        """Acquire or renew the lease; True while this node leads: it holds the lease, or failed to renew for less
        than the renew deadline. Losing a race or an unreachable API server counts as a failed attempt."""
        try:
            won = self.attempt()
        except (ApiError, OSError):
            won = None
        if won:
            self.renewed = time.monotonic()
            return True
        self.held = None
        if won is False or self.renewed is None or time.monotonic() - self.renewed >= self.renew_deadline:
            self.renewed = None
        return self.renewed is not None

    def attempt(self) -> bool:
        """One try: True when this node now holds the lease, False when another valid holder has it."""
        moment = now()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration), "renewTime": stamp(moment)}
        if self.held is not None:  # renewing: a compare-and-swap on what we wrote; a conflict means someone else did
            try:
                self.held = self.client.update("leases", dict(self.held, spec=dict(self.held["spec"], **spec)))
                return True
            except ApiError as error:
                self.held = None
                if error.status != 409:
                    raise
        lease = self.client.get("leases", NAME, NAMESPACE)
        if lease is None:
            first = dict(spec, acquireTime=stamp(moment), leaseTransitions=0)
            body = {"metadata": {"name": NAME, "namespace": NAMESPACE}, "spec": first}
            self.held = self.client.create("leases", body)
            return True
        current = lease.get("spec", {})
        if current.get("holderIdentity") != self.identity:
            if not expired(lease, moment):
                return False
            spec.update(acquireTime=stamp(moment), leaseTransitions=int(current.get("leaseTransitions", 0)) + 1)
        self.held = self.client.update("leases", dict(lease, spec=dict(current, **spec)))
        return True
