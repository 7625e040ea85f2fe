"""``repair``: bring a DevServer's stack and objects back to what was asked for.

Clears stale locks and pending operations (:mod:`.engine.recovery`), refreshes to
find drift (objects edited or deleted by hand, each named with the fields the
engine's diff found changed), then runs an update with the recorded spec and
host keys so that the server re-converges. The claims a server mounts are not
refreshed: the stack only reads them, and every update reads them again.
"""

from __future__ import annotations

from typing import Any

from devservers.components import DevServerSpec
from devservers.components.naming import stack_name
from devservers.stacks.base.background import Later, in_background
from devservers.stacks.base.errors import ProvisionError
from devservers.stacks.base.results import Repaired
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.failures import engine_errors
from devservers.stacks.engine.locks import server_lock
from devservers.stacks.engine.programs import ServerState, read_checkpoint, server_program
from devservers.stacks.engine.progress import collecting, drift_line, engine_output, step_line
from devservers.stacks.engine.recovery import recover_stack
from devservers.stacks.engine.safety import check_update
from devservers.stacks.ownership import found_elsewhere
from devservers.stacks.servers import Progress, check_cluster, connect_identified
from devservers.stacks.waits import Target, watched_wait


def repair_server(
    settings: Settings,
    user: str,
    name: str,
    progress: Progress | None = None,
    allow_replace: bool = False,
) -> Repaired:
    """Recovers, refreshes and re-converges one DevServer.

    The update of a server that mounts a claim is previewed first and
    refused if it would delete or replace a claim, or replace the Deployment
    (unless ``allow_replace``); see :mod:`.engine.safety`.

    Raises:
        NotFound: No such DevServer stack.
        OtherBackend: The cluster has the server, this backend has no stack of it.
        UnsafePlan: The update would lose data (exit 4, the plan is shown).
        Conflict: A live process or another host holds the stack's lock, or
            the stack belongs to another cluster.
        LimitExceeded: A ResourceQuota or LimitRange refused the pod.
        ProvisionError: The stack never completed a create (no recorded spec),
            the engine failed, or the cluster gave a final reason the pod
            cannot become Ready.
    """
    stack_id = stack_name(user, name)
    connected = in_background(lambda: connect_identified(settings))  # while the stack is read
    cluster = Later(lambda: connected.result()[0])
    with (
        found_elsewhere(settings, cluster),
        engine_errors(stack_id, "repair"),
        server_lock(settings, stack_id, "repair"),
    ):
        stack = workspace.select_stack(settings, stack_id)
        checkpoint = read_checkpoint(stack)
        outputs = checkpoint.outputs
        cluster, cluster_id = connected.result()
        check_cluster(cluster, cluster_id, outputs.get("cluster_id"), stack_id)
        recovery = recover_stack(settings, stack, refresh=False, pending=checkpoint.pending)
        drifted: list[str] = []
        found = engine_output(progress, stack_id, line=drift_line)
        output = collecting(found, drift_line, drifted)
        # Not the claims it reads: each update reads them afresh, and their refresh
        # always differs from the read (the provider prunes a read's recorded inputs).
        refreshed = stack.refresh(
            color="never", suppress_outputs=True, exclude=list(checkpoint.reads), **output
        )
        if "spec" not in outputs:
            raise ProvisionError(
                f"stack {stack_id} has no recorded spec: its first create never finished",
                hint=f"run 'devctl create {name}' again to finish it, or 'devctl delete {name}'",
            )
        spec = DevServerSpec(**outputs["spec"])
        keys = dict(outputs["host_private_keys"])
        # A stopped server stays stopped: replicas come from the stack too.
        state = ServerState(spec, int(outputs.get("replicas", 1)), keys, str(outputs["cluster_id"]))
        stack.workspace.program = server_program(settings, state, True)
        if spec.mounts:  # nothing else could lose data (see .engine.safety)
            check_update(stack, mounts_claims=True, allow_deployment_replace=allow_replace)
        target = Target(cluster, spec.namespace, user, name, stack_id)
        converged: list[str] = []
        output = collecting(engine_output(progress, stack_id), step_line, converged)
        with watched_wait(target, settings.operation_timeout_seconds):
            updated = stack.up(color="never", suppress_outputs=True, **output)
    return Repaired(
        name=name,
        stack=stack_id,
        cleared_locks=recovery.cleared_locks,
        dropped_operations=recovery.dropped_operations,
        drift=_changes(refreshed.summary.resource_changes),
        converged=_changes(updated.summary.resource_changes),
        drifted_objects=tuple(drifted),
        converged_objects=tuple(converged),
    )


def _changes(counts: dict[str, Any] | None) -> dict[str, int]:
    """Operation → count of the steps that changed something (not ``same``, nor ``read``)."""
    return {op: int(n) for op, n in sorted((counts or {}).items()) if op not in _UNCHANGED and n}


_UNCHANGED = frozenset({"same", "read"})
"""Step operations that change nothing: an unchanged object, a claim read again."""
