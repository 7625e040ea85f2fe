"""The volume part of a DevServer: the user's claims, and an ephemeral home."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from devservers.components.specs import HOME_PATH, VolumeSpec


class DevServerVolumes(pulumi.ComponentResource):
    """Mounts existing PersistentVolumeClaims; adds an emptyDir home when none is mounted.

    Each claim is read with ``PersistentVolumeClaim.get``: the stack records it
    as an external resource, so an update fails early when the claim is
    missing, and destroying the stack never deletes or replaces it.

    Attributes:
        volumes: ``core/v1 Volume`` dicts for the pod.
        mounts: ``core/v1 VolumeMount`` dicts for the container.
    """

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        volumes: Sequence[VolumeSpec],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("devservers:index:DevServerVolumes", name, None, opts)
        claims = sorted({v.claim for v in volumes})
        for claim in claims:
            k8s.core.v1.PersistentVolumeClaim.get(
                f"{name}-claim-{claim}",
                f"{namespace}/{claim}",
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.volumes, self.mounts = pod_volumes(volumes)
        self.register_outputs({"claims": claims, "mounts": [str(v) for v in volumes]})


def pod_volumes(volumes: Sequence[VolumeSpec]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Pod volumes and container mounts for the given claims.

    One pod volume per claim (a claim mounted at several paths is attached
    once, read-only only if every mount of it is); an ``emptyDir`` named
    ``home`` at ``/home/dev`` when no claim mounts it.

    Returns:
        ``(volumes, mounts)``: lists of ``core/v1 Volume`` and ``VolumeMount`` dicts.
    """
    index = {claim: f"claim-{i}" for i, claim in enumerate(sorted({v.claim for v in volumes}))}
    pod = [
        {
            "name": index[claim],
            "persistentVolumeClaim": {
                "claimName": claim,
                "readOnly": all(v.read_only for v in volumes if v.claim == claim),
            },
        }
        for claim in sorted(index)
    ]
    mounts = [
        {"name": index[v.claim], "mountPath": v.mount_path, "readOnly": v.read_only}
        for v in volumes
    ]
    if not any(v.mount_path == HOME_PATH for v in volumes):
        pod.append({"name": "home", "emptyDir": {}})
        mounts.append({"name": "home", "mountPath": HOME_PATH})
    return pod, mounts
