"""Recovery of a stack left behind by an interrupted operation (``kill -9``, a crash).

Called before every engine operation on an existing stack (``up``,
``destroy``, ``repair``): stale engine locks of dead processes are cleared
(:mod:`.locks`), and pending operations recorded by an interrupted update are
dropped from the state, then the stack is refreshed so the state matches the
cluster again. This is Pulumi's documented resolution for DIY backends
(``pulumi stack export`` / remove ``pending_operations`` / ``pulumi stack
import``); objects whose create was pending are adopted by the next update
(server-side apply with ``pulumi.com/patchForce``) or swept by label on delete.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from pulumi import automation as auto

from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.locks import clear_stale_engine_locks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover_stack` changed.

    Attributes:
        cleared_locks: Stale engine locks removed (``pid … of user@host since …``).
        dropped_operations: Pending operations removed (``creating kubernetes:…::name``).
        refreshed: Whether the stack was refreshed afterwards.
    """

    cleared_locks: tuple[str, ...] = ()
    dropped_operations: tuple[str, ...] = ()
    refreshed: bool = False

    @property
    def changed(self) -> bool:
        """Whether anything was repaired."""
        return bool(self.cleared_locks or self.dropped_operations)


def recover_stack(
    settings: Settings, stack: auto.Stack, refresh: bool = True, pending: int | None = None
) -> Recovery:
    """Clears stale locks and pending operations of ``stack``; refreshes if any were found.

    Args:
        settings: devctl settings (backend, operation timeout).
        stack: The selected stack.
        refresh: Refresh the stack after dropping pending operations.
        pending: How many pending operations a checkpoint the caller just
            exported holds; ``None`` to look (a file read, or an export).

    Raises:
        Conflict: A live process or another host holds the stack's lock.
        auto.CommandError: The engine failed to export, import or refresh.
    """
    cleared = clear_stale_engine_locks(
        settings, workspace.PROJECT, stack.name, settings.operation_timeout_seconds
    )
    maybe = _may_have_pending(settings, stack.name) if pending is None else pending > 0
    dropped = clear_pending_operations(stack) if maybe else []
    if dropped and refresh:
        stack.refresh(color="never", suppress_outputs=True)
    return Recovery(tuple(cleared), tuple(dropped), refreshed=bool(dropped and refresh))


def clear_pending_operations(stack: auto.Stack) -> list[str]:
    """Drops the pending operations from the stack's state (export, edit, import).

    Returns:
        One line per operation dropped: ``<type> <resource type>::<name>``.
    """
    state = stack.export_stack()
    pending = state.deployment.get("pending_operations") or []
    if not pending:
        return []
    dropped = [_describe(op) for op in pending]
    state.deployment.pop("pending_operations")
    stack.import_stack(state)
    for line in dropped:
        log.warning("stack %s: dropped pending operation %s", stack.name, line)
    return dropped


def _may_have_pending(settings: Settings, stack: str) -> bool:
    """Cheap check of a file backend's checkpoint before a full export (other backends: True)."""
    if settings.file_backend_dir is None:
        return True
    root = settings.file_backend_dir / "stacks"
    checkpoints = list(root.glob(f"**/{workspace.PROJECT}/{stack}.json"))
    if len(checkpoints) != 1:
        return True
    try:
        return "pending_operations" in checkpoints[0].read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return True


def _describe(operation: dict) -> str:
    resource = operation.get("resource", {})
    urn = str(resource.get("urn", "?"))
    return f"{operation.get('type', '?')} {resource.get('type', '?')}::{urn.rsplit('::', 1)[-1]}"
