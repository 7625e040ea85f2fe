"""Lifecycle of an existing DevServer: extend its expiry, stop it, start it.

Each operation re-runs the DevServer program on the server's stack with one
field of the stored state changed (expiry or replicas), through
:func:`devservers.stacks.engine.programs.apply_state`, so the spec, the claims and
the SSH host keys stay exactly as they were.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from pulumi import automation as auto

from devservers.components import labels as lbl
from devservers.components.durations import format_exact, format_instant
from devservers.components.expiry import extend_expiry, is_expired
from devservers.components.idleness import IDLE_STOPPED
from devservers.components.naming import stack_name
from devservers.stacks.base.background import Later, in_background
from devservers.stacks.base.errors import (
    Busy,
    ProvisionError,
    SpecError,
    server_not_found,
)
from devservers.stacks.base.results import ServerDetails, Started
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.exports import peek_checkpoint
from devservers.stacks.engine.failures import engine_errors
from devservers.stacks.engine.locks import server_lock
from devservers.stacks.engine.programs import (
    Check,
    Checkpoint,
    Progress,
    ServerState,
    apply_state,
    outputs_expiry,
    read_checkpoint,
    server_program,
    state_from_outputs,
    state_outputs,
)
from devservers.stacks.engine.recovery import recover_stack
from devservers.stacks.engine.safety import check_update
from devservers.stacks.kube.cluster import Cluster, connect, wait_until_empty
from devservers.stacks.listing import describe_server
from devservers.stacks.ownership import found_elsewhere
from devservers.stacks.servers import check_cluster, connect_identified
from devservers.stacks.waits import Target, watched_wait

Change = Callable[[ServerState], ServerState]
"""The new state of a server from its current one; raises ``SpecError`` to refuse."""


def check_extension(by: timedelta, settings: Settings) -> None:
    """Refuses an extension that exceeds ``max_ttl`` whatever the current expiry.

    Raises:
        SpecError: If ``by`` is longer than ``settings.max_ttl``.
    """
    if by > settings.max_ttl_delta:
        raise SpecError(
            f"--by {format_exact(by)} exceeds the maximum lifetime of "
            f"{format_exact(settings.max_ttl_delta)} from now"
        )


def extend_server(
    settings: Settings,
    user: str,
    name: str,
    by: timedelta,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> ServerDetails:
    """Sets the expiry to ``max(now, expiry) + by``, at most ``max_ttl`` from now.

    A stopped server stays stopped; ``start`` it afterwards.

    Raises:
        SpecError: The new expiry would exceed ``max_ttl`` from now; nothing changed.
        NotFound: No such DevServer.
        Conflict: Locked, changed meanwhile, or on another cluster.
        ProvisionError: The engine failed.
    """
    check_extension(by, settings)
    at = now or datetime.now(UTC)

    def change(state: ServerState) -> ServerState:
        try:
            return state.with_expiry(extend_expiry(state.expiry, by, at, settings.max_ttl_delta))
        except ValueError as exc:
            raise SpecError(str(exc)) from None

    return update_server(settings, user, name, change, wait=False, progress=progress)


def stop_server(
    settings: Settings, user: str, name: str, progress: Progress | None = None
) -> ServerDetails:
    """Scales the server to zero replicas; claims, host keys and expiry are kept.

    Returns once its pod is gone (a terminating pod still holds its claims),
    within ``settings.operation_timeout_seconds``. Stopping a stopped server
    changes nothing.

    Raises:
        NotFound: No such DevServer.
        Conflict: Locked, changed meanwhile, or on another cluster.
        ProvisionError: The engine failed, or the pod outlived the timeout.
    """
    stop, seen = _remembering(_replicas(0))
    change_server(settings, user, name, stop, wait=False, progress=progress)
    cluster = connect(settings)
    _wait_until_no_pods(settings, cluster, user, name)
    return describe_server(settings, user, name, cluster, state_outputs(seen[-1]))


def _wait_until_no_pods(settings: Settings, cluster: Cluster, user: str, name: str) -> None:
    """Returns once no pod of the server is left (terminating ones included).

    Raises:
        ProvisionError: One is still there after ``operation_timeout_seconds``.
    """
    selector = lbl.server_selector(user, name)
    if wait_until_empty(
        lambda: cluster.labelled("pods", selector, settings.server_namespace),
        settings.operation_timeout_seconds,
    ):
        raise ProvisionError(
            f"the pod of DevServer {name!r} is still terminating after "
            f"{settings.operation_timeout_seconds} s",
            hint=f"'devctl describe {name}' shows it; its node may be down",
        )


def start_server(
    settings: Settings,
    user: str,
    name: str,
    wait: bool = True,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> Started:
    """Scales a stopped server back to one replica and (by default) waits until Ready.

    Objects deleted or edited by hand while it was stopped are put back
    (refresh); the reason of an idle stop is cleared.
    A server that is running already is left as it is, whatever its expiry.

    Raises:
        SpecError: The server is stopped and its expiry has passed; extend it
            first. Nothing changed.
        NotFound: No such DevServer.
        Conflict: Locked, changed meanwhile, or on another cluster.
        ProvisionError: The engine failed (a pod that never becomes Ready included).
    """
    at = now or datetime.now(UTC)
    start = _replicas(1)
    namespaces: list[str] = []

    def change(state: ServerState) -> ServerState:
        if state.replicas == 1:
            return state
        if is_expired(state.expiry, at):
            raise SpecError(
                f"DevServer {name!r} expired at {format_instant(state.expiry)}; "
                "it cannot be started after its expiry",
                hint=f"extend it first: devctl extend {name} --by 2h",
            )
        namespaces.append(state.spec.namespace)
        return start(state)

    remembered, seen = _remembering(change)
    if not change_server(
        settings, user, name, remembered, wait=wait, progress=progress, refresh=True
    ):
        details = describe_server(settings, user, name, outputs=state_outputs(seen[-1]))
        return Started(details, already_running=True)
    cluster = connect(settings)
    cluster.annotate_deployment(namespaces[0], name, {IDLE_STOPPED: None})  # describes it no more
    return Started(describe_server(settings, user, name, cluster, state_outputs(seen[-1])), False)


def update_server(
    settings: Settings,
    user: str,
    name: str,
    change: Change,
    wait: bool = True,
    progress: Progress | None = None,
    refresh: bool = False,
) -> ServerDetails:
    """Re-runs the program of an existing server with ``change`` applied; describes it.

    See :func:`change_server`.
    """
    remembered, seen = _remembering(change)
    change_server(settings, user, name, remembered, wait=wait, progress=progress, refresh=refresh)
    return describe_server(settings, user, name, outputs=state_outputs(seen[-1]))


def change_server(
    settings: Settings,
    user: str,
    name: str,
    change: Change,
    wait: bool = True,
    progress: Progress | None = None,
    refresh: bool = False,
) -> bool:
    """Re-runs the program of an existing server with ``change`` applied to its state.

    Like every update of an existing stack: under this machine's lock on the
    server, after clearing what an interrupted command left (stale locks,
    pending operations), and, for a server that mounts a claim, previewed
    first so that it is refused if it would lose data (see :mod:`.engine.safety`).
    The state is read from the stack's outputs; the update goes through only
    if, under the engine's lock, the expiry and replicas are still those read
    (a concurrent ``extend`` or reaper on another machine wins instead of
    being overwritten). With
    ``wait=False`` the engine does not wait for readiness (for changes that
    leave the pod alone or remove it); with ``refresh``, objects deleted or
    edited by hand are put back.

    CLI runs: the update and one export under the engine's lock (the check,
    which also decrypts the host keys); the state is read before from the
    checkpoint file of a file backend (one more export elsewhere), and a
    preview runs first only for a server that mounts a claim, the one case
    a plan could lose data. The cluster is checked while the engine starts.

    Returns:
        Whether the stack was updated (``False``: ``change`` left the state as it was).

    Raises:
        SpecError: ``change`` refused; nothing changed.
        NotFound: No such DevServer.
        OtherBackend: The cluster has the server, this backend has no stack of it.
        Conflict: Busy or locked, changed meanwhile, unsafe plan, or on another cluster.
        LimitExceeded: A ResourceQuota or LimitRange refused the pod.
        ProvisionError: The engine failed, or the cluster gave a final reason the
            pod cannot become Ready (with the pods' report).
    """
    stack_id = stack_name(user, name)
    connected = in_background(lambda: connect_identified(settings))  # while the engine starts
    cluster = Later(lambda: connected.result()[0])
    with found_elsewhere(settings, cluster), server_lock(settings, stack_id, "update"):
        stack, state, pending = open_server(settings, stack_id, name)
        new = change(state)
        if new == state:
            return False

        def on_this_cluster() -> None:
            cluster, cluster_id = connected.result()
            check_cluster(cluster, cluster_id, state.cluster_id, stack_id)

        if wait or pending:  # the watcher reads the cluster from the start; a recovery refreshes
            on_this_cluster()
        target = Target(cluster, new.spec.namespace, user, name, stack_id)
        with engine_errors(stack_id, "update"):
            recover_stack(settings, stack, pending=pending)
            if new.spec.mounts:
                new = _with_host_keys(new, stack)
                stack.workspace.program = server_program(settings, new, wait)
                check_update(stack, mounts_claims=True, refresh=refresh)
            with watched_wait(target, settings.operation_timeout_seconds, wait):
                check = unchanged_since(state, name, on_this_cluster)
                apply_state(
                    settings, stack, new, wait=wait, progress=progress, check=check, refresh=refresh
                )
    return True


def _with_host_keys(state: ServerState, stack: auto.Stack) -> ServerState:
    """``state`` with its private host keys, decrypted from the checkpoint if sealed."""
    if state.host_private_keys:
        return state
    keys = read_checkpoint(stack).outputs.get("host_private_keys") or {}
    return replace(state, host_private_keys=dict(keys))


def _remembering(change: Change) -> tuple[Change, list[ServerState]]:
    """``change``, and the list of the states it returned (the last one is the server's)."""
    seen: list[ServerState] = []

    def remembered(state: ServerState) -> ServerState:
        seen.append(change(state))
        return seen[-1]

    return remembered, seen


def open_server(
    settings: Settings, stack_id: str, name: str
) -> tuple[auto.Stack, ServerState, int]:
    """Opens a server's stack and reads its state, host keys sealed (a file read, or one CLI run).

    Returns:
        The stack, its state, and how many pending operations its checkpoint holds.

    Raises:
        NotFound: The stack does not exist or never completed its create.
    """
    missing = server_not_found(stack_id)
    with engine_errors(stack_id, "read"):
        stack = workspace.select_stack(settings, stack_id)
        try:
            checkpoint = peek_checkpoint(settings, stack)
        except auto.StackNotFoundError:
            raise missing from None
    state = state_from_outputs(checkpoint.outputs)
    if state is None:
        raise missing
    return stack, state, checkpoint.pending


def unchanged_since(
    state: ServerState, name: str, first: Callable[[], None] | None = None
) -> Check:
    """A check refusing the update if expiry or replicas changed since ``state`` was read.

    ``first`` runs before it (under the same lock), e.g. the cluster's check.
    """

    def check(checkpoint: Checkpoint) -> None:
        if first is not None:
            first()
        outputs = checkpoint.outputs
        expiry, replicas = outputs_expiry(outputs), int(outputs.get("replicas", 1))
        if expiry != state.expiry or replicas != state.replicas:
            raise Busy(
                f"DevServer {name!r} was changed by another operation meanwhile",
                hint="run the command again",
            )

    return check


def _replicas(count: int) -> Change:
    def change(state: ServerState) -> ServerState:
        return replace(state, replicas=count)

    return change
