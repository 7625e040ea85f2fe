"""Data safety: plans deleting or replacing claims, or replacing a claim-mounting Deployment."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from devservers.stacks import Conflict
from devservers.stacks.engine.safety import (
    DEPLOYMENT_TYPE,
    PVC_TYPE,
    Step,
    check_plan,
    planned_steps,
)

SECRET = "kubernetes:core/v1:Secret"


def event(op: str, typ: str, name: str) -> SimpleNamespace:
    meta = SimpleNamespace(op=op, type=typ, urn=f"urn:pulumi:a.b::devservers::{typ}::{name}")
    return SimpleNamespace(resource_pre_event=SimpleNamespace(metadata=meta))


def test_steps_come_from_resource_pre_events_only() -> None:
    events = [SimpleNamespace(resource_pre_event=None), event("update", SECRET, "box-keys")]
    assert planned_steps(events) == [Step("update", SECRET, "box-keys")]


@pytest.mark.parametrize("op", ["delete", "replace", "create-replacement", "delete-replaced"])
def test_plan_losing_a_claim_is_refused_and_shown(op: str) -> None:
    steps = [Step("update", SECRET, "box-keys"), Step(op, PVC_TYPE, "datasets")]
    with pytest.raises(Conflict) as info:
        check_plan(steps, stack="alice.box", mounts_claims=True, allow_deployment_replace=True)
    assert "datasets" in info.value.message
    assert "update kubernetes:core/v1:Secret box-keys" in info.value.message


def test_replacing_a_claim_mounting_deployment_needs_the_override() -> None:
    steps = [Step("replace", DEPLOYMENT_TYPE, "box")]
    with pytest.raises(Conflict, match="replace kubernetes:apps/v1:Deployment box"):
        check_plan(steps, stack="alice.box", mounts_claims=True)
    check_plan(steps, stack="alice.box", mounts_claims=True, allow_deployment_replace=True)
    check_plan(steps, stack="alice.box", mounts_claims=False)


def test_in_place_updates_and_reads_pass() -> None:
    steps = [
        Step("update", SECRET, "box-authorized-keys"),
        Step("update", DEPLOYMENT_TYPE, "box"),
        Step("read", PVC_TYPE, "datasets"),
        Step("same", PVC_TYPE, "datasets"),
    ]
    check_plan(steps, stack="alice.box", mounts_claims=True)
