"""The slow consistency sweep: stacks against the labelled objects on the cluster.

Listing and reaping read labels only (one API call), so they never notice a
stack whose objects are gone (deleted by hand) or objects whose stack is gone
(state lost, created by another backend). This sweep compares both sides:
it lists the stacks of the ``devservers`` project (the backend opens every
checkpoint: seconds at thousands of stacks, hence "slow"; run it at a lower
frequency than the reaper's scan) and the labelled Deployments of all
namespaces (one API call). It only reports; it never destroys.

Caveats a reader of the report should know: a create in progress has a stack
and no objects yet; a backend shared by several clusters has stacks whose
objects live on another cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from devservers.components import labels as lbl
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.failures import engine_errors
from devservers.stacks.kube.cluster import Cluster, connect


@dataclass(frozen=True)
class LabelledObject:
    """A DevServer Deployment as found on the cluster, with the stack its labels name."""

    namespace: str
    name: str
    stack: str


@dataclass(frozen=True)
class Consistency:
    """Result of one sweep.

    Attributes:
        stacks: How many stacks the backend holds for the project.
        objects: How many labelled Deployments the cluster holds.
        stacks_without_objects: Stack names with no labelled Deployment, sorted.
        objects_without_stacks: Labelled Deployments whose stack does not
            exist, sorted by stack.
        checked_at: UTC instant the sweep finished.
    """

    stacks: int
    objects: int
    stacks_without_objects: tuple[str, ...]
    objects_without_stacks: tuple[LabelledObject, ...]
    checked_at: datetime

    @property
    def consistent(self) -> bool:
        """Whether both sides match exactly."""
        return not self.stacks_without_objects and not self.objects_without_stacks


def sweep_consistency(settings: Settings, cluster: Cluster | None = None) -> Consistency:
    """Compares the project's stacks with the labelled Deployments of all namespaces.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
        ProvisionError: The backend cannot list its stacks.
    """
    cluster = cluster or connect(settings)
    objects = [_labelled(d) for d in cluster.labelled("deployments", lbl.SELECTOR, None)]
    stacks = list_stack_names(settings)
    named = {o.stack for o in objects}
    return Consistency(
        stacks=len(stacks),
        objects=len(objects),
        stacks_without_objects=tuple(sorted(stacks - named)),
        objects_without_stacks=tuple(
            sorted((o for o in objects if o.stack not in stacks), key=lambda o: o.stack)
        ),
        checked_at=datetime.now(UTC),
    )


def list_stack_names(settings: Settings) -> set[str]:
    """Names (``<user>.<server>``) of every stack of the project in the backend.

    Raises:
        ProvisionError: The backend cannot list its stacks.
    """
    from pulumi import automation as auto

    opts = workspace.workspace_options(settings)
    with engine_errors(workspace.PROJECT, "list stacks"):
        ws = auto.LocalWorkspace(
            pulumi_command=opts.pulumi_command,
            project_settings=opts.project_settings,
            env_vars=opts.env_vars,
            secrets_provider=opts.secrets_provider,
        )
        return {s.name.rsplit("/", 1)[-1] for s in ws.list_stacks()}


def _labelled(deployment: dict[str, Any]) -> LabelledObject:
    meta = deployment["metadata"]
    return LabelledObject(
        namespace=meta["namespace"],
        name=meta["name"],
        stack=(meta.get("labels") or {}).get(lbl.STACK, ""),
    )
