"""Data safety of an update: the plan is previewed and refused if it could lose user data.

Rules (devservers design: "PVCs are user-managed: never deleted, never replaced"):

* no step may delete or replace a PersistentVolumeClaim;
* the Deployment of a server that mounts a claim may not be replaced
  (delete-then-create would cut the user off and restart every process),
  unless the caller passes ``allow_deployment_replace`` (``--allow-replace``).

Where it must be called: before every ``stack.up`` on an existing stack of
a server that mounts a claim (resuming a create, ``repair``, and any update
path such as extend/stop/start): ``check_update(stack, mounts_claims=True)``.
A fresh stack has nothing to lose, and the stack of a server without claims
holds no PersistentVolumeClaim (not even a read of one) and no data in its
Deployment: no plan of either can break these rules, so neither needs a
preview (one CLI run of about a second saved per update).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pulumi import automation as auto

from devservers.stacks.base.errors import Conflict

PVC_TYPE = "kubernetes:core/v1:PersistentVolumeClaim"
DEPLOYMENT_TYPE = "kubernetes:apps/v1:Deployment"

_LOSING = frozenset({"delete", "replace", "create-replacement", "delete-replaced"})
"""Step operations that destroy the object they act on."""


class UnsafePlan(Conflict):
    """The update would delete or replace a claim, or replace a claim-mounting Deployment."""


@dataclass(frozen=True)
class Step:
    """One planned step of a preview: operation (``update``, ``replace``…), type, name."""

    op: str
    type: str
    name: str

    def __str__(self) -> str:
        return f"{self.op} {self.type} {self.name}"


def planned_steps(events: Iterable[auto.EngineEvent]) -> list[Step]:
    """The steps of a preview, from its engine events (``resource_pre_event``s), in order."""
    steps = []
    for event in events:
        pre = event.resource_pre_event
        if pre is None or pre.metadata is None:
            continue
        meta = pre.metadata
        op = meta.op.value if hasattr(meta.op, "value") else str(meta.op)
        steps.append(Step(op=op, type=meta.type, name=meta.urn.rsplit("::", 1)[-1]))
    return steps


def check_plan(
    steps: list[Step], *, stack: str, mounts_claims: bool, allow_deployment_replace: bool = False
) -> None:
    """Refuses a plan of ``stack`` (``<user>.<server>``) that could lose user data.

    Raises:
        UnsafePlan: Naming the offending steps, followed by the whole plan.
    """
    bad = [s for s in steps if s.type == PVC_TYPE and s.op in _LOSING]
    if mounts_claims and not allow_deployment_replace:
        bad += [s for s in steps if s.type == DEPLOYMENT_TYPE and s.op in _LOSING]
    if not bad:
        return
    plan = "\n".join(f"  {s}" for s in steps if s.op not in ("same", "read"))
    raise UnsafePlan(
        f"refused: the update would {'; '.join(map(str, bad))}\nplan:\n{plan}",
        hint="claims are never deleted or replaced; to allow the Deployment's replacement, "
        f"run 'devctl repair {stack.partition('.')[2]} --allow-replace'",
    )


def check_update(
    stack: auto.Stack,
    *,
    mounts_claims: bool,
    allow_deployment_replace: bool = False,
    refresh: bool = False,
) -> list[Step]:
    """Previews an update of ``stack`` and refuses it if unsafe (see :func:`check_plan`).

    With ``refresh``, the preview reads the objects back from the cluster
    first, as the update it stands for will (``pulumi preview --refresh``):
    without it, the plan of an object deleted by hand is an update, which
    the provider's dry run refuses (``deployments.apps "box" not found``).

    Returns:
        The planned steps.

    Raises:
        UnsafePlan: The plan would lose data.
        auto.CommandError: The preview failed.
    """
    events: list[auto.EngineEvent] = []
    stack.preview(on_event=events.append, color="never", refresh=refresh)
    steps = planned_steps(events)
    check_plan(
        steps,
        stack=stack.name,
        mounts_claims=mounts_claims,
        allow_deployment_replace=allow_deployment_replace,
    )
    return steps
