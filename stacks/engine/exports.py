"""A stack's last completed state, read with one ``pulumi stack export``.

The outputs of a stack are in its checkpoint, on the root
``pulumi:pulumi:Stack`` resource: one export reads them together with what
an interrupted update left (pending operations) and how many resources the
stack holds, where ``auto.Stack.outputs()`` runs the CLI twice for the
outputs alone. The export decrypts secrets (``--show-secrets``); they are
turned back into plain values here.

A file backend's checkpoint is that same document on disk
(``.pulumi/stacks/<project>/<stack>.json``, replaced whole by a rename, so
never read half-written): :func:`peek_checkpoint` reads it without a CLI run
where secrets are not needed, and leaves each secret :data:`SEALED`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pulumi import automation as auto

from devservers.stacks.base.settings import Settings

ROOT_TYPE = "pulumi:pulumi:Stack"
"""Type of the resource holding a stack's outputs."""

SECRET_SIG = ("4dabf18193072939515e22adb298388d", "1b47061264138c4ac30d75fd1eb44270")
"""Key and value marking a secret in a checkpoint (Pulumi's ``sig.Secret``)."""

SEALED = "[secret]"
"""What :func:`peek_checkpoint` leaves in place of a secret (still encrypted on disk)."""


@dataclass(frozen=True)
class Checkpoint:
    """A stack's last completed state.

    Attributes:
        outputs: The stack outputs as plain values (secrets decrypted).
        resources: How many resources the stack holds (0 once destroyed).
        pending: How many pending operations an interrupted update left in it.
        reads: URNs of the resources it reads but does not own (``external``:
            the claims a server mounts, read with ``PersistentVolumeClaim.get``).
    """

    outputs: dict[str, Any]
    resources: int
    pending: int = 0
    reads: tuple[str, ...] = ()


def read_checkpoint(stack: auto.Stack) -> Checkpoint:
    """The stack's last completed state: outputs, resources, pending operations (one CLI run).

    Read by a program running under the stack's lock, it is the state no
    other operation can change until this one ends.

    Raises:
        auto.StackNotFoundError: No such stack.
        auto.CommandError: The engine could not read it.
    """
    return _checkpoint(stack.export_stack().deployment or {})


def peek_checkpoint(settings: Settings, stack: auto.Stack) -> Checkpoint:
    """:func:`read_checkpoint` with secrets :data:`SEALED`: a file read on a file backend.

    Other backends, and a checkpoint that is not plain JSON where expected,
    take the export (one CLI run).

    Raises:
        auto.StackNotFoundError: No such stack.
        auto.CommandError: The engine could not read it.
    """
    path = settings.checkpoint_file(stack.name)
    try:
        document = json.loads(path.read_text(encoding="utf-8")) if path else None
        deployment = document["checkpoint"]["latest"] if document else None
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        deployment = None
    if not isinstance(deployment, dict):
        return read_checkpoint(stack)
    return _checkpoint(deployment)


def _checkpoint(deployment: dict[str, Any]) -> Checkpoint:
    resources = deployment.get("resources") or []
    roots = [r for r in resources if r.get("type") == ROOT_TYPE]
    outputs = _plain(dict(roots[0].get("outputs") or {})) if roots else {}
    pending = len(deployment.get("pending_operations") or [])
    reads = tuple(r["urn"] for r in resources if r.get("external") and r.get("urn"))
    return Checkpoint(outputs, len(resources), pending, reads)


def _plain(value: Any) -> Any:
    """A checkpoint value with each secret as its plaintext (exported) or :data:`SEALED`."""
    if isinstance(value, dict):
        if value.get(SECRET_SIG[0]) == SECRET_SIG[1]:
            return _plain(json.loads(value["plaintext"])) if "plaintext" in value else SEALED
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value
