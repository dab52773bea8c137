# SPDX-License-Identifier: GPL-3.0-or-later
"""Leader election of the controllers: the holder of Lease `kube-system/kube-controller-manager`
(coordination.k8s.io/v1) runs them, as kube-controller-manager's `--leader-elect` does, so exactly one control
plane does at a time. The holder renews every round; another node takes the lease once `renewTime` is older than
`leaseDurationSeconds`. Every change is a compare-and-swap on the Lease's resourceVersion, so two candidates
never both win.
"""

from __future__ import annotations

import datetime

from ..kubeclient import ApiError, KubeClient

NAMESPACE, NAME = "kube-system", "kube-controller-manager"
MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime(MICRO_TIME)


def expired(lease: dict, moment: datetime.datetime) -> bool:
    spec = lease.get("spec", {})
    renewed = spec.get("renewTime")
    if not spec.get("holderIdentity") or not renewed:
        return True
    last = datetime.datetime.strptime(renewed, MICRO_TIME).replace(tzinfo=datetime.timezone.utc)
    return (moment - last).total_seconds() > float(spec.get("leaseDurationSeconds", 15))


class Election:
    def __init__(self, client: KubeClient, identity: str, duration: float = 15):
        self.client, self.identity, self.duration = client, identity, duration

    def step(self) -> bool:
        """Acquire or renew the lease; True while this node holds it. API errors (a lost race) give False."""
        moment = now()
        spec = {"holderIdentity": self.identity, "leaseDurationSeconds": int(self.duration), "renewTime": stamp(moment)}
        try:
            lease = self.client.get("leases", NAME, NAMESPACE)
            if lease is None:
                first = dict(spec, acquireTime=stamp(moment), leaseTransitions=0)
                body = {"metadata": {"name": NAME, "namespace": NAMESPACE}, "spec": first}
                self.client.create("leases", body)
                return True
            current = lease.get("spec", {})
            if current.get("holderIdentity") != self.identity:
                if not expired(lease, moment):
                    return False
                spec.update(acquireTime=stamp(moment), leaseTransitions=int(current.get("leaseTransitions", 0)) + 1)
            self.client.update("leases", dict(lease, spec=dict(current, **spec)))
            return True
        except ApiError:
            return False
