"""Tearing a DevServer stack down so that nothing is left: destroy, sweep, prove, remove.

The engine destroys what its state knows, without a refresh first: an
object deleted by hand is gone already (the provider counts "not found" as
deleted), and one the state does not know (its create was interrupted, or
it was made again by hand) is swept by label afterwards. The stack is
removed only once a fresh label-selected listing proves no object of it is
left and no pod of it is still terminating. PersistentVolumeClaims are never
touched (see :mod:`.kube.sweep`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pulumi import automation as auto

from devservers.components import labels as lbl
from devservers.stacks.base.errors import ProvisionError
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.locks import discard_server_lock
from devservers.stacks.engine.progress import engine_output
from devservers.stacks.engine.recovery import recover_stack
from devservers.stacks.kube.cluster import Cluster, wait_until_empty
from devservers.stacks.kube.readiness import name_of
from devservers.stacks.kube.sweep import find_objects, sweep_objects
from devservers.stacks.ssh import sshconfig

log = logging.getLogger(__name__)


def destroy_stack(
    settings: Settings,
    cluster: Cluster,
    stack: auto.Stack,
    namespace: str,
    *,
    force: bool = False,
    progress: Callable[[str], Any] | None = None,
    program: Callable[[], None] | None = None,
    pending: int | None = None,
) -> tuple[str, ...]:
    """Destroys ``stack``, sweeps its leftovers in ``namespace``, then removes the stack.

    The server's ``Host`` entry and pinned host keys in devctl's SSH files go
    too, and so does its lock file, once the caller's :func:`~.engine.locks.server_lock`
    is released.

    Args:
        settings: devctl settings.
        cluster: Connection to the stack's cluster.
        stack: The selected stack.
        namespace: Where the server's objects live.
        force: When the engine cannot destroy, rely on the label sweep and
            remove the stack anyway (still only once nothing is left).
        progress: Receives progress lines (see :mod:`.engine.progress`).
        program: Run by the destroy under the stack's lock, before anything is
            deleted (``run_program``); it may raise to call the destroy off.
            The providers it registers do the deletes. No destroy refreshes
            first (see the module's docstring), so none reads through the
            providers the stack recorded, whose credentials may be another
            machine's.
        pending: Pending operations in the checkpoint the caller just read
            (see :func:`~devservers.stacks.engine.recovery.recover_stack`).

    Returns:
        Objects deleted by the sweep (``Kind/name``), the engine's own deletions excluded.

    Raises:
        Conflict: A live process or another host holds the stack's lock.
        ProvisionError: Objects of the stack are still present after the sweep.
        auto.CommandError: The engine failed and ``force`` is false.
    """
    recover_stack(settings, stack, refresh=False, pending=pending)
    try:
        run = {"program": program, "run_program": True} if program else {}
        output = engine_output(progress, stack.name, keep=_not_stack_rm_advice)
        stack.destroy(color="never", **run, **output)
    except auto.CommandError:
        if not force:
            raise
        log.warning("stack %s: the engine could not destroy; sweeping by label", stack.name)
    swept = sweep_objects(cluster, namespace, stack.name)
    # The sweep's own listing proves nothing is left unless it deleted something.
    left = (find_objects(cluster, namespace, stack.name) if swept else []) or _terminating(
        settings, cluster, namespace, stack.name
    )
    if left:
        raise ProvisionError(
            f"stack {stack.name} kept: objects still present in {namespace}: {', '.join(left)}",
            hint="run the same command again once they are gone",
        )
    workspace.remove_stack(settings, stack, force=force)
    user, _, name = stack.name.partition(".")
    sshconfig.forget(sshconfig.SshFiles.under(settings.state_dir), user, name, cluster.key)
    discard_server_lock(settings, stack.name)
    return tuple(swept)


def _terminating(settings: Settings, cluster: Cluster, namespace: str, stack: str) -> list[str]:
    """Waits until the server's Deployment and pods are gone, not only being deleted.

    A terminating pod still holds its claims; a Deployment made without
    waiting (``--no-wait``) is deleted without the engine's await. Bounded
    by ``operation_timeout_seconds``; returns what is left then (``Kind/name``).
    """
    user, _, name = stack.partition(".")
    selector = lbl.server_selector(user, name)

    def present() -> list[str]:
        return [
            f"{kind}/{name_of(item)}"
            for kind, plural in (("Deployment", "deployments"), ("Pod", "pods"))
            for item in cluster.labelled(plural, selector, namespace)
        ]

    return wait_until_empty(present, settings.operation_timeout_seconds)


STACK_RM_ADVICE = (
    "history and configuration associated with the stack are still maintained",
    "If you want to remove the stack completely, run",
)
"""The engine's closing advice after a destroy; the stack is removed here, so it is dropped."""


def _not_stack_rm_advice(line: str) -> bool:
    return not any(advice in line for advice in STACK_RM_ADVICE)
