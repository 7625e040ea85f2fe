"""The flavor part of a DevServer: resources, scheduling and /dev/shm."""

from __future__ import annotations

from typing import Any

import pulumi

from devservers.components.specs import GPU_RESOURCE, FlavorSpec


class DevServerFlavor(pulumi.ComponentResource):
    """Turns a flavor into the pod fields it governs. Creates no Kubernetes object.

    Attributes:
        resources: ``core/v1 ResourceRequirements`` as a dict.
        node_selector: Mapping of node label key → value the pod requires.
        tolerations: List of ``core/v1 Toleration`` dicts.
        shm_volume: The memory-backed ``/dev/shm`` volume (``emptyDir``,
            ``medium: Memory``, sized by the flavor; PyTorch DataLoader workers
            share tensors through it).
    """

    def __init__(
        self, name: str, *, flavor: FlavorSpec, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("devservers:index:DevServerFlavor", name, None, opts)
        self.resources: dict[str, Any] = pod_resources(flavor)
        self.node_selector: dict[str, str] = dict(flavor.node_selector)
        self.tolerations: list[dict[str, Any]] = [
            t.model_dump(exclude_none=True) for t in flavor.tolerations
        ]
        self.shm_volume: dict[str, Any] = {
            "name": "dshm",
            "emptyDir": {"medium": "Memory", "sizeLimit": flavor.shm_size},
        }
        self.register_outputs(
            {
                "flavor": flavor.name,
                "resources": self.resources,
                "node_selector": self.node_selector,
                "tolerations": self.tolerations,
            }
        )


def pod_resources(flavor: FlavorSpec) -> dict[str, Any]:
    """Requests and limits of the DevServer container (``ResourceRequirements``)."""
    requests = {"cpu": flavor.cpu_request, "memory": flavor.memory_request}
    limits = {"cpu": flavor.cpu_limit, "memory": flavor.memory_limit}
    if flavor.gpus:
        requests[GPU_RESOURCE] = limits[GPU_RESOURCE] = str(flavor.gpus)
    return {"requests": requests, "limits": limits}
