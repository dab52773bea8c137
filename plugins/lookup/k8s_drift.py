# SPDX-License-Identifier: GPL-3.0-or-later
# Copyright (c) onprem.microk8s contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which desired Kubernetes objects differ from the cluster: one read per object, all in one process.

kubernetes.core.k8s compares and patches too, but each task that runs it is a Python process of its own that
imports the Kubernetes client and reads the API's discovery again (0.6 to 0.9 s each on the lab): on a re-run
where nothing differs, a role with ten applies spent most of its time there. This lookup reads every object a
role would apply in one task, with kubernetes.core's own client (same kubeconfig handling, same cache), so that
the applies run only for what differs. It never writes."""

from __future__ import annotations

DOCUMENTATION = r"""
name: k8s_drift
author:
  - onprem.microk8s contributors (!UNKNOWN)
short_description: Which desired Kubernetes objects differ from what the cluster holds
description:
  - Reads each desired object from the API with kubernetes.core's client and says whether the live object already
    holds every field the definition sets (fields the API server added are ignored; lists must match item by item).
  - An object that is missing, of a kind the API does not serve yet, or that cannot be read counts as differing,
    so the apply that follows runs and reports any error itself.
  - Returns the live object's C(status) but never its other fields (a Secret's data stays out of facts and logs).
options:
  _terms:
    description: Desired objects (dicts with apiVersion, kind and metadata.name), or lists of them.
    required: true
    type: list
    elements: raw
  kubeconfig:
    description: Path of the kubeconfig to use (as in kubernetes.core).
    type: path
  context:
    description: The kubeconfig context to use.
    type: str
requirements:
  - kubernetes (Python client), as for kubernetes.core
"""

EXAMPLES = r"""
- name: Read which objects differ
  ansible.builtin.set_fact:
    drift: "{{ query('onprem.microk8s.k8s_drift', objects, kubeconfig=kubeconfig_path) }}"

- name: Apply only those
  kubernetes.core.k8s:
    kubeconfig: "{{ kubeconfig_path }}"
    definition: "{{ drift | onprem.microk8s.k8s_drifted }}"
  when: drift | onprem.microk8s.k8s_drifted | length > 0
"""

RETURN = r"""
_list:
  description: One entry per desired object, in order.
  type: list
  elements: dict
  contains:
    definition:
      description: The desired object as given.
      type: dict
    drifted:
      description: Whether an apply would have something to change (or the object could not be compared).
      type: bool
    reason:
      description: >-
        Why it counts as differing (C(missing), C(differs), C(kind not served), C(unreadable ...)), or C(in sync).
      type: str
    status:
      description: The live object's status, when it exists.
      type: dict
"""

from ansible.errors import AnsibleError
from ansible.plugins.lookup import LookupBase

from ansible_collections.onprem.microk8s.plugins.module_utils._k8s_drift import drift_entry, identity

try:
    from kubernetes.dynamic.exceptions import NotFoundError, ResourceNotFoundError
except ImportError as error:  # reported when the lookup runs, as kubernetes.core's own lookup does
    IMPORT_ERROR = error
else:
    IMPORT_ERROR = None

try:
    from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
except ImportError as error:
    IMPORT_ERROR = IMPORT_ERROR or error


def read_drift(client, definition):
    """The drift entry of one desired object, read with a kubernetes.core client."""
    who = identity(definition)
    if not who["kind"] or not who["name"]:
        raise AnsibleError("k8s_drift: each object needs a kind and a metadata.name")
    try:
        resource = client.resource(who["kind"], who["api_version"])
    except ResourceNotFoundError:
        return drift_entry(definition, reason="kind not served")
    if resource.namespaced and not who["namespace"]:
        return drift_entry(definition, reason="no namespace given")
    try:
        live = client.get(resource, name=who["name"], namespace=who["namespace"]).to_dict()
    except NotFoundError:
        return drift_entry(definition, reason="missing")
    except Exception as error:  # pylint: disable=broad-except  # the apply runs and reports it
        return drift_entry(definition, reason=f"unreadable ({type(error).__name__})")
    return drift_entry(definition, live)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        if IMPORT_ERROR is not None:
            raise AnsibleError(f"k8s_drift needs the Kubernetes Python client and kubernetes.core: {IMPORT_ERROR}")
        definitions = []
        for term in terms:
            definitions.extend(term if isinstance(term, list) else [term])
        if not definitions:
            return []
        try:
            client = get_api_client(kubeconfig=kwargs.get("kubeconfig"), context=kwargs.get("context"))
        except Exception as error:  # pylint: disable=broad-except  # every object then counts as differing
            return [drift_entry(one, reason=f"unreadable ({type(error).__name__})") for one in definitions]
        return [read_drift(client, one) for one in definitions]
