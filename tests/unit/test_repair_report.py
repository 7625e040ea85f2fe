"""What ``repair`` reports: only the objects a refresh found changed, each named with what."""

from __future__ import annotations

from typing import Any

from pulumi.automation import events

from devservers.stacks.engine.exports import _checkpoint
from devservers.stacks.engine.progress import collecting, drift_line, engine_output

PREFIX = "urn:pulumi:alice.box::devservers::devservers:index:DevServer$"


def refreshed(op: str, typ: str, name: str, diff: tuple[str, ...] = ()) -> events.EngineEvent:
    """A refresh's verdict on one object (same, update or delete), as the engine streams it."""
    urn = f"{PREFIX}{typ}::{name}"
    state = {"type": typ, "urn": urn, "id": "", "parent": "", "provider": "", "custom": True}
    metadata: dict[str, Any] = {"op": op, "urn": urn, "type": typ, "provider": "", "old": state}
    if op != "delete":
        metadata["new"] = state
    metadata["detailedDiff"] = {path: {"diffKind": "update", "inputDiff": False} for path in diff}
    return events.EngineEvent.from_json(
        {"sequence": 1, "timestamp": 0, "resOutputsEvent": {"metadata": metadata}}
    )


REFRESH = [
    refreshed("refresh", "kubernetes:apps/v1:Deployment", "box"),  # the planned step
    refreshed("same", "kubernetes:core/v1:Secret", "box-host-keys"),
    refreshed("delete", "kubernetes:core/v1:Service", "box-ssh"),
    refreshed(
        "update", "kubernetes:apps/v1:Deployment", "box", ("spec.replicas", "metadata.labels")
    ),
]


def test_a_refresh_names_each_changed_object_and_what_changed_on_it() -> None:
    found: list[str] = []
    lines: list[str] = []
    on_event = collecting(
        engine_output(lines.append, "alice.box", line=drift_line), drift_line, found
    )["on_event"]

    for event in REFRESH:
        on_event(event)

    assert found == [
        "service/box-ssh missing",
        "deployment/box edited: metadata.labels, spec.replicas",
    ]
    assert lines == found  # progress says "missing", never "deleted": the repair deleted nothing


def test_the_claims_a_stack_reads_are_known_from_its_checkpoint() -> None:
    claim = f"{PREFIX}kubernetes:core/v1:PersistentVolumeClaim::box-volumes-claim-data"
    deployment = {
        "resources": [
            {"urn": f"{PREFIX}kubernetes:apps/v1:Deployment::box", "type": "x", "custom": True},
            {"urn": claim, "type": "kubernetes:core/v1:PersistentVolumeClaim", "external": True},
        ]
    }
    assert _checkpoint(deployment).reads == (claim,)
