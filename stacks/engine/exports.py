"""A stack's last completed state, read with one ``pulumi stack export``.

The outputs of a stack are in its checkpoint, on the root
``pulumi:pulumi:Stack`` resource: one export reads them together with what
an interrupted update left (pending operations) and how many resources the
stack holds, where ``auto.Stack.outputs()`` runs the CLI twice for the
outputs alone. The export decrypts secrets (``--show-secrets``); they are
turned back into plain values here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pulumi import automation as auto

ROOT_TYPE = "pulumi:pulumi:Stack"
"""Type of the resource holding a stack's outputs."""

SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""Key and value marking a secret in a checkpoint (Pulumi's ``sig.Secret``)."""


@dataclass(frozen=True)
class Checkpoint:
    """A stack's last completed state.

    Attributes:
        outputs: The stack outputs as plain values (secrets decrypted).
        resources: How many resources the stack holds (0 once destroyed).
        pending: How many pending operations an interrupted update left in it.
    """

    outputs: dict[str, Any]
    resources: int
    pending: int = 0


def read_checkpoint(stack: auto.Stack) -> Checkpoint:
    """The stack's last completed state: outputs, resources, pending operations (one CLI run).

    Read by a program running under the stack's lock, it is the state no
    other operation can change until this one ends.

    Raises:
        auto.StackNotFoundError: No such stack.
        auto.CommandError: The engine could not read it.
    """
    deployment = stack.export_stack().deployment or {}
    resources = deployment.get("resources") or []
    roots = [r for r in resources if r.get("type") == ROOT_TYPE]
    outputs = _plain(dict(roots[0].get("outputs") or {})) if roots else {}
    pending = len(deployment.get("pending_operations") or [])
    return Checkpoint(outputs, len(resources), pending)


def _plain(value: Any) -> Any:
    """A checkpoint value with every secret replaced by its (exported) plaintext."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1] and "plaintext" in value:
            return _plain(json.loads(value["plaintext"]))
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
