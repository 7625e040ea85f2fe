"""A user of the platform: their namespace, identity, permissions and limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from devservers.components import labels as lbl
from devservers.components import rbac
from devservers.components.platform_specs import (
    USER_SERVICE_ACCOUNT,
    LimitRangeSpec,
    PodSecurityLevel,
    QuotaSpec,
    UserSpec,
)
from devservers.components.specs import GPU_RESOURCE

USER_ROLE = "devservers-user"
"""Name of the Role (and RoleBinding) of a user in their own namespace."""

SSH_KEYS_CONFIGMAP = "ssh-public-keys"
"""ConfigMap in a user's namespace with their registered keys (``authorized_keys``)."""


class User(pulumi.ComponentResource):
    """Namespace ``dev-<user>``, a ServiceAccount, its Role and bindings, optional limits.

    The Role (rules of :data:`rbac.SERVER_RULES`) lets the ServiceAccount
    manage the objects of the user's DevServers and port-forward to their pods
    in the user's namespace only. Two more bindings let it read the flavor
    catalog (a RoleBinding in the system namespace to the catalog reader Role)
    and get its own and ``kube-system``'s Namespace objects (a ClusterRole
    restricted by ``resourceNames``).

    The namespace is kept when the user is removed from the platform (Pulumi
    ``retainOnDelete``): it may hold the user's claims, which devservers
    never deletes. Removing a user revokes their access; an admin deletes the
    namespace by hand when its data may go.

    Args:
        spec: The validated user.
        system_namespace: Namespace of the flavor catalog.
        catalog_reader_role: Role in the system namespace granting catalog reads.
        quota: ResourceQuota of the namespace, or ``None``.
        limit_range: LimitRange of the namespace, or ``None``.
        pod_security: Pod Security Standard enforced in the namespace.
        labels: Labels of every object (mapping of label key → value).
        namespace_annotations: Annotations of the namespace (mapping of key →
            value): the platform stack that owns it.
        opts: Resource options; pass the explicit Kubernetes provider here.

    Attributes:
        namespace: ``dev-<user>``.
        service_account: Name of the user's ServiceAccount.
    """

    namespace: pulumi.Output[str]
    service_account: pulumi.Output[str]

    def __init__(
        self,
        spec: UserSpec,
        *,
        system_namespace: pulumi.Input[str],
        catalog_reader_role: pulumi.Input[str],
        quota: QuotaSpec | None = None,
        limit_range: LimitRangeSpec | None = None,
        pod_security: PodSecurityLevel = "restricted",
        labels: Mapping[str, str],
        namespace_annotations: Mapping[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("devservers:index:User", spec.name, None, opts)
        name = spec.name
        child = pulumi.ResourceOptions(parent=self)
        own = {**labels, lbl.OWNER: name}
        ns = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata={
                "name": spec.namespace,
                "labels": {**own, "pod-security.kubernetes.io/enforce": pod_security},
                **({"annotations": dict(namespace_annotations)} if namespace_annotations else {}),
            },
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        meta = {"namespace": ns.metadata.name, "labels": own}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata={"name": USER_SERVICE_ACCOUNT, **meta}, opts=child
        )
        subject = [
            {"kind": "ServiceAccount", "name": account.metadata.name, "namespace": ns.metadata.name}
        ]
        role = k8s.rbac.v1.Role(
            f"{name}-role",
            metadata={"name": USER_ROLE, **meta},
            rules=list(rbac.SERVER_RULES),
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-role-binding",
            metadata={"name": USER_ROLE, **meta},
            role_ref=_ref("Role", role.metadata.name),
            subjects=subject,
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            f"{name}-catalog-reader",
            metadata={
                "name": f"devservers-catalog-{name}",
                "namespace": system_namespace,
                "labels": own,
            },
            role_ref=_ref("Role", catalog_reader_role),
            subjects=subject,
            opts=child,
        )
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-namespace-reader",
            metadata={"name": f"devservers-user-{name}", "labels": own},
            rules=rbac.namespace_reader_rules([spec.namespace, "kube-system"]),
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-namespace-reader",
            metadata={"name": f"devservers-user-{name}", "labels": own},
            role_ref=_ref("ClusterRole", cluster_role.metadata.name),
            subjects=subject,
            opts=child,
        )
        if spec.ssh_public_keys:
            k8s.core.v1.ConfigMap(
                f"{name}-ssh-public-keys",
                metadata={"name": SSH_KEYS_CONFIGMAP, **meta},
                data={"authorized_keys": "\n".join(spec.ssh_public_keys) + "\n"},
                opts=child,
            )
        if quota:
            k8s.core.v1.ResourceQuota(
                f"{name}-quota",
                metadata={"name": "devservers", **meta},
                spec={"hard": quota_hard(quota)},
                opts=child,
            )
        if limit_range:
            k8s.core.v1.LimitRange(
                f"{name}-limit-range",
                metadata={"name": "devservers", **meta},
                spec={"limits": [limit_range_item(limit_range)]},
                opts=child,
            )
        self.namespace = ns.metadata.name
        self.service_account = account.metadata.name
        self.register_outputs(
            {"namespace": self.namespace, "service_account": self.service_account}
        )


def quota_hard(quota: QuotaSpec) -> dict[str, str]:
    """``ResourceQuota.spec.hard``: mapping of quota resource name → quantity."""
    names = {
        "cpu": "requests.cpu",
        "memory": "requests.memory",
        "gpus": f"requests.{GPU_RESOURCE}",
        "pods": "pods",
        "persistentvolumeclaims": "persistentvolumeclaims",
        "storage": "requests.storage",
    }
    return {names[key]: str(value) for key, value in quota.model_dump(exclude_none=True).items()}


def limit_range_item(limits: LimitRangeSpec) -> dict[str, Any]:
    """One ``LimitRangeItem`` of type ``Container`` (only the fields set)."""
    fields = {"max": "max_{}", "default": "default_{}", "defaultRequest": "default_{}_request"}
    item: dict[str, Any] = {"type": "Container"}
    for field, pattern in fields.items():
        values = {r: getattr(limits, pattern.format(r)) for r in ("cpu", "memory")}
        if any(values.values()):
            item[field] = {r: v for r, v in values.items() if v}
    return item


def _ref(kind: str, name: pulumi.Input[str]) -> dict[str, Any]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": name}
