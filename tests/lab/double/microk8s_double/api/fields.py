# SPDX-License-Identifier: GPL-3.0-or-later
"""Known fields of the kinds in use, for server-side field validation (`fieldValidation=Strict|Warn|Ignore`).

Real API servers decode built-in kinds into Go structs: a field the struct lacks is dropped from what is stored,
and named in a 400 `strict decoding error: unknown field "spec.bogus"` (Strict) or a `Warning` header (Warn).
TYPES lists each struct's JSON fields: `name` is a value (not looked into), `name:Type` an object of that type,
`name:[Type]` a list of them, `name:{}` a free map (labels, data), `name:*` a subtree not modelled (accepted as is).
Simplified: only the kinds of KINDS are checked; deep or rarely used subtrees (affinity, securityContext,
volume sources, probe handlers, status) are accepted as they come.
"""

from __future__ import annotations

TOP = "apiVersion kind metadata:ObjectMeta"
TYPES = {
    "ObjectMeta": "name generateName namespace selfLink uid resourceVersion generation creationTimestamp "
    "deletionTimestamp deletionGracePeriodSeconds labels:{} annotations:{} ownerReferences:[OwnerReference] "
    "finalizers managedFields:* clusterName",
    "OwnerReference": "apiVersion kind name uid controller blockOwnerDeletion",
    "LabelSelector": "matchLabels:{} matchExpressions:[Requirement]",
    "Requirement": "key operator values",
    "Pod": f"{TOP} spec:PodSpec status:*",
    "PodTemplateSpec": "metadata:ObjectMeta spec:PodSpec",
    "PodSpec": "volumes:[Volume] initContainers:[Container] containers:[Container] ephemeralContainers:* "
    "restartPolicy terminationGracePeriodSeconds activeDeadlineSeconds dnsPolicy nodeSelector:{} "
    "serviceAccountName serviceAccount automountServiceAccountToken nodeName hostNetwork hostPID hostIPC "
    "shareProcessNamespace securityContext:* imagePullSecrets:[LocalObjectReference] hostname subdomain "
    "affinity:* schedulerName tolerations:[Toleration] hostAliases:[HostAlias] priorityClassName priority "
    "dnsConfig:* readinessGates:* runtimeClassName enableServiceLinks preemptionPolicy overhead:{} "
    "topologySpreadConstraints:* setHostnameAsFQDN os:* hostUsers schedulingGates:* resourceClaims:* resources:*",
    "Container": "name image command args workingDir ports:[ContainerPort] envFrom:[EnvFromSource] env:[EnvVar] "
    "resources:* resizePolicy:* restartPolicy volumeMounts:[VolumeMount] volumeDevices:* livenessProbe:Probe "
    "readinessProbe:Probe startupProbe:Probe lifecycle:* terminationMessagePath terminationMessagePolicy "
    "imagePullPolicy securityContext:* stdin stdinOnce tty",
    "ContainerPort": "name hostPort containerPort protocol hostIP",
    "EnvVar": "name value valueFrom:*",
    "EnvFromSource": "prefix configMapRef:* secretRef:*",
    "VolumeMount": "name readOnly recursiveReadOnly mountPath subPath mountPropagation subPathExpr",
    "Probe": "exec:* httpGet:* tcpSocket:* grpc:* initialDelaySeconds timeoutSeconds periodSeconds "
    "successThreshold failureThreshold terminationGracePeriodSeconds",
    "Volume": "name hostPath:* emptyDir:* gcePersistentDisk:* awsElasticBlockStore:* gitRepo:* secret:* nfs:* "
    "iscsi:* glusterfs:* persistentVolumeClaim:* rbd:* flexVolume:* cinder:* cephfs:* flocker:* downwardAPI:* "
    "fc:* azureFile:* configMap:* vsphereVolume:* quobyte:* azureDisk:* photonPersistentDisk:* projected:* "
    "portworxVolume:* scaleIO:* storageos:* csi:* ephemeral:* image:*",
    "Toleration": "key operator value effect tolerationSeconds",
    "HostAlias": "ip hostnames",
    "LocalObjectReference": "name",
    "Deployment": f"{TOP} spec:DeploymentSpec status:*",
    "DeploymentSpec": "replicas selector:LabelSelector template:PodTemplateSpec strategy:* minReadySeconds "
    "revisionHistoryLimit paused progressDeadlineSeconds",
    "ReplicaSet": f"{TOP} spec:ReplicaSetSpec status:*",
    "ReplicaSetSpec": "replicas minReadySeconds selector:LabelSelector template:PodTemplateSpec",
    "StatefulSet": f"{TOP} spec:StatefulSetSpec status:*",
    "StatefulSetSpec": "replicas selector:LabelSelector template:PodTemplateSpec "
    "volumeClaimTemplates:[PersistentVolumeClaimTemplate] serviceName podManagementPolicy updateStrategy:* "
    "revisionHistoryLimit minReadySeconds persistentVolumeClaimRetentionPolicy:* ordinals:*",
    "PersistentVolumeClaimTemplate": "apiVersion kind metadata:ObjectMeta spec:PersistentVolumeClaimSpec status:*",
    "Service": f"{TOP} spec:ServiceSpec status:*",
    "ServiceSpec": "ports:[ServicePort] selector:{} clusterIP clusterIPs type externalIPs sessionAffinity "
    "loadBalancerIP loadBalancerSourceRanges externalName externalTrafficPolicy healthCheckNodePort "
    "publishNotReadyAddresses sessionAffinityConfig:* ipFamilies ipFamilyPolicy allocateLoadBalancerNodePorts "
    "loadBalancerClass internalTrafficPolicy trafficDistribution",
    "ServicePort": "name protocol appProtocol port targetPort nodePort",
    "ConfigMap": f"{TOP} data:{{}} binaryData:{{}} immutable",
    "Secret": f"{TOP} data:{{}} stringData:{{}} type immutable",
    "Namespace": f"{TOP} spec:* status:*",
    "ServiceAccount": f"{TOP} secrets:* imagePullSecrets:[LocalObjectReference] automountServiceAccountToken",
    "Ingress": f"{TOP} spec:IngressSpec status:*",
    "IngressSpec": "ingressClassName defaultBackend:* tls:[IngressTLS] rules:[IngressRule]",
    "IngressTLS": "hosts secretName",
    "IngressRule": "host http:HTTPIngressRuleValue",
    "HTTPIngressRuleValue": "paths:[HTTPIngressPath]",
    "HTTPIngressPath": "path pathType backend:*",
    "NetworkPolicy": f"{TOP} spec:NetworkPolicySpec status:*",
    "NetworkPolicySpec": "podSelector:LabelSelector ingress:[NetworkPolicyIngressRule] "
    "egress:[NetworkPolicyEgressRule] policyTypes",
    "NetworkPolicyIngressRule": "ports:[NetworkPolicyPort] from:[NetworkPolicyPeer]",
    "NetworkPolicyEgressRule": "ports:[NetworkPolicyPort] to:[NetworkPolicyPeer]",
    "NetworkPolicyPort": "protocol port endPort",
    "NetworkPolicyPeer": "podSelector:LabelSelector namespaceSelector:LabelSelector ipBlock:IPBlock",
    "IPBlock": "cidr except",
    "PersistentVolumeClaim": f"{TOP} spec:PersistentVolumeClaimSpec status:*",
    "PersistentVolumeClaimSpec": "accessModes selector:LabelSelector resources:* volumeName storageClassName "
    "volumeMode dataSource:* dataSourceRef:* volumeAttributesClassName",
    "Role": f"{TOP} rules:[PolicyRule]",
    "ClusterRole": f"{TOP} rules:[PolicyRule] aggregationRule:*",
    "PolicyRule": "verbs apiGroups resources resourceNames nonResourceURLs",
    "RoleBinding": f"{TOP} subjects:[Subject] roleRef:RoleRef",
    "ClusterRoleBinding": f"{TOP} subjects:[Subject] roleRef:RoleRef",
    "Subject": "kind apiGroup name namespace",
    "RoleRef": "apiGroup kind name",
    "PodDisruptionBudget": f"{TOP} spec:PodDisruptionBudgetSpec status:*",
    "PodDisruptionBudgetSpec": "minAvailable maxUnavailable selector:LabelSelector unhealthyPodEvictionPolicy",
}
FIELDS = {name: dict(f.partition(":")[::2] for f in text.split()) for name, text in TYPES.items()}
KINDS = {"Pod", "Deployment", "ReplicaSet", "StatefulSet", "Service", "ConfigMap", "Secret", "Namespace",
         "ServiceAccount", "Ingress", "PersistentVolumeClaim", "Role", "ClusterRole", "RoleBinding",
         "ClusterRoleBinding", "PodDisruptionBudget", "NetworkPolicy"}  # fmt: skip


def prune(kind: str, obj: dict) -> tuple[dict, list[str]]:
    """(the object without the fields its kind does not have, the paths of those fields) for a checked kind."""
    if kind not in KINDS:
        return obj, []
    unknown: list[str] = []
    return walk(obj, kind, "", unknown), unknown


def walk(value: object, type_name: str, path: str, unknown: list[str]) -> object:
    """`value` shaped as `type_name` (`Type`, `[Type]`, `{}`, `*` or "" for a plain value)."""
    if type_name.startswith("[") and isinstance(value, list):
        inner = type_name[1:-1]
        return [walk(item, inner, f"{path}[{index}]", unknown) for index, item in enumerate(value)]
    if type_name not in FIELDS or not isinstance(value, dict):
        return value
    known = FIELDS[type_name]
    kept = {}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in known:
            kept[key] = walk(item, known[key], where, unknown)
        else:
            unknown.append(where)
    return kept
