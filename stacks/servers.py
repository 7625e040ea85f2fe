"""DevServer lifecycle: create and delete. Each server is one stack."""

from __future__ import annotations

from dataclasses import replace

from pulumi import automation as auto

from devservers.components import DevServerSpec
from devservers.components.naming import stack_name
from devservers.stacks.base.background import Later, in_background
from devservers.stacks.base.errors import Conflict, DevserversError, NotFound
from devservers.stacks.base.results import Deleted, ServerDetails
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.checkpoints import checkpoint_set_aside, restored_on_failure
from devservers.stacks.engine.exports import peek_checkpoint
from devservers.stacks.engine.failures import engine_errors, retry_unreadable_checkpoint
from devservers.stacks.engine.hostkeys import generate_host_keys
from devservers.stacks.engine.locks import server_lock
from devservers.stacks.engine.programs import (
    Progress,
    ServerState,
    apply_state,
    guarded,
    read_checkpoint,
    server_program,
    state_from_outputs,
)
from devservers.stacks.engine.recovery import recover_stack
from devservers.stacks.engine.safety import check_update
from devservers.stacks.kube.cluster import Cluster, connect
from devservers.stacks.kube.sweep import find_objects, foreign_objects, sweep_objects
from devservers.stacks.listing import describe_server
from devservers.stacks.ownership import (
    found_elsewhere,
    not_in_this_backend,
    recorded_elsewhere,
    server_deployment,
)
from devservers.stacks.teardown import destroy_stack
from devservers.stacks.waits import Target, watched_wait


@retry_unreadable_checkpoint
def create_server(
    settings: Settings, spec: DevServerSpec, wait: bool = True, progress: Progress | None = None
) -> ServerDetails:
    """Creates the DevServer's stack and brings it up until its pod is Ready.

    Everything is checked before the engine changes anything: the cluster
    answers, the namespace and every claim exist, and no object the server
    would own exists without being its own. Those checks run while the
    stack is initialised and the engine starts, and the program waits for
    them before it registers anything; a stack made for a create they
    refuse is removed again. A stack left by an interrupted or failed
    create (no successful update yet) is resumed; one whose Deployment is gone
    (deleted by hand, or a delete killed mid-destroy) is re-converged. With ``wait=False`` the
    engine does not wait for readiness (status may still be ``Pending``).

    Raises:
        NotFound: The namespace or a claim is missing.
        Conflict: The server exists already, its stack is locked, or it lives
            on another cluster.
        LimitExceeded: A ResourceQuota or LimitRange refused the pod (the wait
            ends as soon as the cluster says so).
        ClusterUnavailable: The API server cannot be reached.
        ProvisionError: The engine failed (timeouts included), or the cluster
            gave a final reason the pod cannot become Ready (see :mod:`.waits`).
    """
    cluster = connect(settings)
    checked = in_background(lambda: _checked(cluster, spec))
    resumed = False
    with (
        restored_on_failure(settings, workspace.PROJECT, spec.stack),
        engine_errors(spec.stack, "create"),
        server_lock(settings, spec.stack, "create"),
    ):
        try:
            stack = workspace.create_stack(settings, spec.stack)
        except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError):
            resumed = True  # re-converged with a refresh: objects may be gone meanwhile
            # Init of an existing stack fails either way (locked: by an interrupted run).
            stack = workspace.select_stack(settings, spec.stack)
        state = ServerState(spec, 1, generate_host_keys(), "")
        refused: list[DevserversError] = []
        if resumed:
            cluster_id, found = checked.result()
            state = _resumed(
                settings, cluster, stack, replace(state, cluster_id=cluster_id), found, wait
            )

        def checked_first(state: ServerState) -> ServerState:  # in the program, under the lock
            try:
                cluster_id, found = checked.result()
                _refuse_objects_of_another_backend(settings, cluster, spec, found)
            except DevserversError as exc:
                refused.append(exc)
                raise
            return replace(state, cluster_id=cluster_id)

        target = Target(cluster, spec.namespace, spec.user, spec.name, spec.stack)
        try:
            with watched_wait(target, settings.operation_timeout_seconds, wait):
                outputs = apply_state(
                    settings,
                    stack,
                    state,
                    wait=wait,
                    progress=progress,
                    refresh=resumed,
                    prepare=None if resumed else checked_first,
                )
        except DevserversError:
            if refused:  # nothing was registered: the stack made for this create goes again
                workspace.remove_stack(settings, stack, force=True)
            raise
    return describe_server(settings, spec.user, spec.name, cluster, outputs)


def _checked(cluster: Cluster, spec: DevServerSpec) -> tuple[str, list[str]]:
    """The checks of a create: the cluster's identity, then the server's objects.

    Returns:
        The cluster's identity, and the objects of the server's stack (``Kind/name``).

    Raises:
        NotFound: The namespace or a claim is missing.
        Conflict: An object with one of the server's names is not its own.
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster_id = cluster.identity()
    cluster.require_namespace(spec.namespace)
    require_claims(cluster, spec)
    foreign = foreign_objects(cluster, spec.namespace, spec.name, spec.stack)
    if foreign:
        raise Conflict(
            f"DevServer {spec.name!r} would take over {', '.join(foreign)} in namespace "
            f"{spec.namespace}, which it did not create",
            hint="choose another name: devservers never takes over objects it did not create",
        )
    return cluster_id, find_objects(cluster, spec.namespace, spec.stack)


def require_claims(cluster: Cluster, spec: DevServerSpec) -> None:
    """Raises unless every claim ``spec`` mounts (its flavor's default volumes too) exists.

    Raises:
        NotFound: Naming the missing claims.
    """
    missing = cluster.missing_claims(spec.namespace, {v.claim for v in spec.mounts})
    if missing:
        raise NotFound(
            f"claim(s) {', '.join(missing)} do not exist in namespace {spec.namespace}",
            hint="create the PersistentVolumeClaim first; devservers never creates claims",
        )


def _resumed(
    settings: Settings,
    cluster: Cluster,
    stack: auto.Stack,
    state: ServerState,
    found: list[str],
    wait: bool,
) -> ServerState:
    """The state with which an existing stack's create resumes (its host keys kept).

    Raises:
        Conflict: The server exists already (it holds a server, and its Deployment is there).
        UnsafePlan: Resuming would lose data (see :mod:`.engine.safety`).
    """
    spec = state.spec
    if _holds_a_server(stack) and any(entry.startswith("Deployment/") for entry in found):
        raise Conflict(
            f"DevServer {spec.name!r} already exists (stack {spec.stack})",
            hint=f"'devctl describe {spec.name}' shows it; delete it first to recreate it",
        )
    # Host keys are generated once: keep those of the stack, else of its Secret.
    checkpoint = read_checkpoint(stack)
    kept = state_from_outputs(checkpoint.outputs)
    keys = kept.host_private_keys if kept is not None else None
    keys = keys or cluster.host_keys(spec.namespace, spec.name, spec.stack)
    if keys:
        state = replace(state, host_private_keys=keys)
    stack.workspace.program = server_program(settings, state, wait)
    recover_stack(settings, stack, pending=checkpoint.pending)
    if spec.mounts:
        check_update(stack, mounts_claims=True, refresh=True)  # as the update: refreshed
    return state


@retry_unreadable_checkpoint
def delete_server(
    settings: Settings,
    user: str,
    name: str,
    progress: Progress | None = None,
    force: bool = False,
) -> Deleted:
    """Destroys the DevServer's objects and removes its stack. Claims are never touched.

    Its ``Host`` entry and pinned host keys in devctl's SSH files go too.

    Stale locks and pending operations of an interrupted command are cleared
    first; objects the engine does not know are swept by label. With
    ``force``, a failed destroy (or a missing stack) falls back to the label
    sweep; the stack is removed only once nothing of it is left. A stack whose
    checkpoint was unreadable with no readable backup (moved aside, see
    :mod:`.engine.checkpoints`) is swept without ``force``.

    Raises:
        NotFound: No such DevServer stack (and, with ``force`` or a checkpoint
            moved aside, no object of it); the message names the objects
            labelled for it that ``force`` would sweep.
        OtherBackend: The cluster has the server, this backend has no stack of it
            (then nothing is deleted, ``force`` or not).
        Conflict: The stack is locked, or it was created on another cluster.
        ProvisionError: The engine failed to destroy, or objects survived the sweep.
    """
    stack_id = stack_name(user, name)
    connected = in_background(lambda: connect_identified(settings))  # while the stack is read
    cluster = Later(lambda: connected.result()[0])
    with (
        found_elsewhere(settings, cluster),
        restored_on_failure(settings, workspace.PROJECT, stack_id),
        engine_errors(stack_id, "delete"),
        server_lock(settings, stack_id, "delete"),
    ):
        stack = workspace.select_stack(settings, stack_id)
        try:
            checkpoint = peek_checkpoint(settings, stack)
        except auto.StackNotFoundError:
            namespace = settings.server_namespace
            if force or checkpoint_set_aside(settings, workspace.PROJECT, stack_id):
                deployment = server_deployment(cluster, namespace, stack_id)
                if recorded_elsewhere(settings, deployment):  # never swept from here
                    raise not_in_this_backend(settings, stack_id, deployment) from None
                if swept := sweep_objects(cluster, namespace, stack_id):
                    return Deleted(name=name, stack=stack_id, claims_kept=(), swept=tuple(swept))
            elsewhere = recorded_elsewhere(
                settings, server_deployment(cluster, namespace, stack_id)
            )
            if not elsewhere and (found := find_objects(cluster, namespace, stack_id)):
                raise NotFound(
                    f"DevServer {name!r} has no stack {stack_id} in this backend, but objects "
                    f"labelled for it exist in {namespace}: {', '.join(found)}",
                    hint=f"'devctl delete {name} --force' removes them (claims are never touched)",
                ) from None
            raise
        outputs = checkpoint.outputs

        def on_this_cluster() -> None:
            cluster, cluster_id = connected.result()
            check_cluster(cluster, cluster_id, outputs.get("cluster_id"), stack_id)

        if force or checkpoint.pending:  # a forced sweep, or a recovery, must not go first
            on_this_cluster()
        spec = outputs.get("spec", {})
        namespace = spec.get("namespace") or settings.server_namespace
        with guarded(stack, on_this_cluster, None) as program:  # before anything is deleted
            swept = destroy_stack(
                settings,
                cluster,
                stack,
                namespace,
                force=force,
                progress=progress,
                program=program,
                pending=checkpoint.pending,
            )
    claims = tuple(sorted({v["claim"] for v in spec.get("volumes", [])}))
    return Deleted(name=name, stack=stack_id, claims_kept=claims, swept=swept)


def _holds_a_server(stack: auto.Stack) -> bool:
    """Whether the stack's last successful update or destroy was an update.

    Outputs alone are no evidence: a failed update records them too. A stack
    destroyed but not removed (its remover was killed) holds nothing.
    """
    for update in stack.history(show_secrets=False):  # newest first
        if update.result == "succeeded" and update.kind in ("update", "destroy"):
            return update.kind == "update"
    return False


def _refuse_objects_of_another_backend(
    settings: Settings, cluster: Cluster, spec: DevServerSpec, found: list[str]
) -> None:
    """Raises if objects of a same-named stack exist (``found``) for a new stack.

    They were created from another state backend; adopting them would leave two
    stacks owning one server. Only a checkpoint this backend moved aside
    (:mod:`.engine.checkpoints`) lets a new stack take them over.

    Raises:
        OtherBackend: See :func:`~devservers.stacks.ownership.not_in_this_backend`.
    """
    if found and not checkpoint_set_aside(settings, workspace.PROJECT, spec.stack):
        deployment = server_deployment(cluster, spec.namespace, spec.stack)
        raise not_in_this_backend(settings, spec.stack, deployment)


def connect_identified(settings: Settings) -> tuple[Cluster, str]:
    """The cluster connection of ``settings`` and the cluster's identity (one API call).

    Raises:
        SpecError: The kubeconfig or context is bad.
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = connect(settings)
    return cluster, cluster.identity()


def check_cluster(cluster: Cluster, cluster_id: str, recorded: str | None, stack: str) -> None:
    """Raises unless the stack was ``recorded`` on the cluster ``cluster_id`` (or on none).

    Raises:
        Conflict: It belongs to another cluster than the one of ``cluster``'s context.
    """
    if recorded and recorded != cluster_id:
        raise Conflict(
            f"stack {stack} belongs to another cluster than context {cluster.context!r}",
            hint="select the kubeconfig/context the server was created on",
        )
