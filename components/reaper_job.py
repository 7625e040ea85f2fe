"""The reaper as a Kubernetes CronJob of the platform (optional)."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_kubernetes as k8s

from devservers.components import rbac
from devservers.components.naming import REAPER_NAME
from devservers.components.platform_specs import ReaperSpec

REAPER_UID = 65532
"""The non-root user of the reaper image (``images/reaper/Dockerfile``)."""

_RESTRICTED_POD = {
    "runAsNonRoot": True,
    "runAsUser": REAPER_UID,
    "runAsGroup": REAPER_UID,
    "seccompProfile": {"type": "RuntimeDefault"},
}
"""What Pod Security "restricted" asks of a pod, beside the container's own settings
(https://kubernetes.io/docs/concepts/security/pod-security-standards/)."""


class ReaperCronJob(pulumi.ComponentResource):
    """A CronJob running the reaper once per schedule, never two at a time.

    ``concurrencyPolicy: Forbid`` keeps runs from overlapping; the reaper's
    own stack locks make a second reaper elsewhere safe too. A run that
    cannot start within ``starting_deadline_seconds`` is skipped; one that
    runs past ``active_deadline_seconds`` is killed (the next pass finishes
    what it left: every action resumes after a kill). Its pod meets Pod
    Security "restricted". Its
    ServiceAccount may list DevServers in every namespace and destroy their
    objects (a ClusterRole named after the system namespace, so two platforms
    on one cluster do not share it).

    Args:
        name: Logical name of the component.
        spec: Image, schedule, command, args and environment of the job.
        namespace: The system namespace.
        labels: Labels of every object (mapping of label key → value).
        opts: Resource options; pass the explicit Kubernetes provider here.

    Attributes:
        cronjob: Name of the CronJob.
    """

    cronjob: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        spec: ReaperSpec,
        namespace: pulumi.Input[str],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("devservers:index:ReaperCronJob", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        meta = {"namespace": namespace, "labels": dict(labels)}
        account = k8s.core.v1.ServiceAccount(
            f"{name}-account", metadata={"name": REAPER_NAME, **meta}, opts=child
        )
        role_name = pulumi.Output.concat(REAPER_NAME, "-", namespace)
        role = k8s.rbac.v1.ClusterRole(
            f"{name}-role",
            metadata={"name": role_name, "labels": dict(labels)},
            rules=rbac.reaper_rules(),
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-role-binding",
            metadata={"name": role_name, "labels": dict(labels)},
            role_ref={
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": role.metadata.name,
            },
            subjects=[{"kind": "ServiceAccount", "name": REAPER_NAME, "namespace": namespace}],
            opts=child,
        )
        container = {
            "name": "reaper",
            "image": spec.image,
            "imagePullPolicy": "IfNotPresent",
            "command": list(spec.command),
            "args": list(spec.args),
            "env": [{"name": k, "value": v} for k, v in sorted(spec.env.items())],
            "envFrom": [{"secretRef": {"name": spec.env_secret}}] if spec.env_secret else [],
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"]},
                "seccompProfile": {"type": "RuntimeDefault"},
            },
        }
        job = k8s.batch.v1.CronJob(
            name,
            metadata={"name": REAPER_NAME, **meta},
            spec={
                "schedule": spec.schedule,
                "timeZone": "Etc/UTC",
                "concurrencyPolicy": "Forbid",
                "startingDeadlineSeconds": spec.starting_deadline_seconds,
                # The last runs' pods stay, for `kubectl logs` and `devctl reaper status`.
                "successfulJobsHistoryLimit": 3,
                "failedJobsHistoryLimit": 3,
                "jobTemplate": {
                    "spec": {
                        "backoffLimit": 0,
                        "activeDeadlineSeconds": spec.active_deadline_seconds,
                        "template": {
                            "metadata": {"labels": dict(labels)},
                            "spec": {
                                "serviceAccountName": account.metadata.name,
                                "restartPolicy": "Never",
                                "securityContext": _RESTRICTED_POD,
                                "containers": [container],
                            },
                        },
                    }
                },
            },
            opts=child,
        )
        self.cronjob = job.metadata.name
        self.register_outputs({"cronjob": self.cronjob})
