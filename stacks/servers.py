"""DevServer lifecycle: create, delete, list, describe. Each server is one stack."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pulumi import automation as auto

from devservers.components import DevServerSpec, VolumeSpec
from devservers.components import labels as lbl
from devservers.components.durations import parse_instant
from devservers.components.naming import stack_name
from devservers.stacks import sshconfig, workspace
from devservers.stacks.cluster import Cluster, connect
from devservers.stacks.diagnostics import explain_failure
from devservers.stacks.engine import engine_errors
from devservers.stacks.errors import Conflict, NotFound
from devservers.stacks.hostkeys import generate_host_keys
from devservers.stacks.locks import server_lock
from devservers.stacks.notices import with_notice
from devservers.stacks.programs import Progress, ServerState, apply_state, server_program
from devservers.stacks.recovery import recover_stack
from devservers.stacks.results import Deleted, PodInfo, Server, ServerDetails
from devservers.stacks.safety import check_update
from devservers.stacks.settings import Settings
from devservers.stacks.sweep import sweep_objects
from devservers.stacks.teardown import destroy_stack


def create_server(
    settings: Settings, spec: DevServerSpec, wait: bool = True, progress: Progress | None = None
) -> ServerDetails:
    """Creates the DevServer's stack and brings it up until its pod is Ready.

    Everything is checked before the stack is touched: the cluster answers,
    the namespace and every claim exist. A stack left by an interrupted
    create (no successful update yet) is resumed. With ``wait=False`` the
    engine does not wait for readiness (status may still be ``Pending``).

    Raises:
        NotFound: The namespace or a claim is missing.
        Conflict: The server exists already, its stack is locked, or it lives
            on another cluster.
        ClusterUnavailable: The API server cannot be reached.
        ProvisionError: The engine failed (timeouts included).
    """
    cluster = connect(settings)
    cluster_id = cluster.identity()
    cluster.require_namespace(spec.namespace)
    missing = cluster.missing_claims(spec.namespace, {v.claim for v in spec.mounts})
    if missing:
        raise NotFound(
            f"claim(s) {', '.join(missing)} do not exist in namespace {spec.namespace}",
            hint="create the PersistentVolumeClaim first; devservers never creates claims",
        )
    state = ServerState(spec, 1, generate_host_keys(), cluster_id)
    program = server_program(settings, state, wait)
    with engine_errors(spec.stack, "create"), server_lock(settings, spec.stack, "create"):
        try:
            stack = workspace.create_stack(settings, spec.stack, program)
        except (auto.StackAlreadyExistsError, auto.ConcurrentUpdateError):
            # Init of an existing stack fails either way (locked: by an interrupted run).
            stack = workspace.select_stack(settings, spec.stack, program)
            outputs = stack.outputs()
            if "expiry" in outputs:
                raise Conflict(
                    f"DevServer {spec.name!r} already exists (stack {spec.stack})",
                    hint=f"'devctl describe {spec.name}' shows it; delete it first to recreate it",
                ) from None
            recover_stack(settings, stack)
            if spec.mounts:
                check_update(stack, mounts_claims=True)
        with explain_failure(
            cluster,
            spec.namespace,
            spec.user,
            spec.name,
            spec.stack,
            settings.operation_timeout_seconds,
        ):
            apply_state(settings, stack, state, wait=wait, progress=progress)
    return describe_server(settings, spec.user, spec.name, cluster)


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
    sweep; the stack is removed only once nothing of it is left.

    Raises:
        NotFound: No such DevServer stack (and, with ``force``, no object of it).
        Conflict: The stack is locked, or it was created on another cluster.
        ProvisionError: The engine failed to destroy, or objects survived the sweep.
    """
    stack_id = stack_name(user, name)
    with engine_errors(stack_id, "delete"), server_lock(settings, stack_id, "delete"):
        try:
            stack = workspace.select_stack(settings, stack_id)
        except auto.StackNotFoundError:
            if force and (
                swept := sweep_objects(connect(settings), settings.server_namespace, stack_id)
            ):
                return Deleted(name=name, stack=stack_id, claims_kept=(), swept=tuple(swept))
            raise
        outputs = _plain(stack.outputs())
        cluster = connect(settings)
        _check_cluster(cluster, outputs, stack_id)
        spec = outputs.get("spec", {})
        namespace = spec.get("namespace") or settings.server_namespace
        swept = destroy_stack(settings, cluster, stack, namespace, force=force, progress=progress)
    sshconfig.forget(sshconfig.SshFiles.under(settings.state_dir), user, name)
    claims = tuple(sorted({v["claim"] for v in spec.get("volumes", [])}))
    return Deleted(name=name, stack=stack_id, claims_kept=claims, swept=swept)


def list_servers(settings: Settings, all_users: bool = False) -> list[Server]:
    """The user's DevServers (or everyone's) from one label-selected API call.

    Raises:
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = connect(settings)
    if all_users:
        found = cluster.deployments(lbl.SELECTOR, None)
    else:
        found = cluster.deployments(lbl.owner_selector(settings.user), settings.server_namespace)
    now = datetime.now(UTC)
    servers = (with_notice(_server(d), d, settings, now) for d in found)
    return sorted(servers, key=lambda s: (s.user, s.name))


def describe_server(
    settings: Settings, user: str, name: str, cluster: Cluster | None = None
) -> ServerDetails:
    """One DevServer in full: its objects, pods, recent events and host keys.

    Looks in ``settings.server_namespace`` only, so a user's own (namespaced)
    credentials suffice.

    Raises:
        NotFound: No Deployment of that server exists in that namespace.
    """
    cluster = cluster or connect(settings)
    selector = f"{lbl.owner_selector(user)},{lbl.SERVER}={name}"
    found = cluster.deployments(selector, settings.server_namespace)
    if not found:
        raise NotFound(
            f"DevServer {name!r} of user {user!r} does not exist", hint="'devctl list' shows yours"
        )
    deployment = found[0]
    server = with_notice(_server(deployment), deployment, settings, datetime.now(UTC))
    pods = cluster.pods(server.namespace, f"{lbl.OWNER}={user},{lbl.SERVER}={name}")
    events = cluster.events(server.namespace, name)
    with engine_errors(server.stack, "read"):
        outputs = _plain(workspace.select_stack(settings, server.stack).outputs())
    return ServerDetails(
        server=server,
        service=f"{name}-ssh",
        volumes=tuple(str(VolumeSpec(**v)) for v in outputs.get("spec", {}).get("volumes", [])),
        host_public_keys=dict(outputs.get("host_public_keys", {})),
        pods=tuple(_pod(p) for p in pods),
        events=tuple(f"{e.type} {e.reason}: {e.message}" for e in events[-10:]),
    )


def _check_cluster(cluster: Cluster, outputs: dict[str, Any], stack: str) -> None:
    recorded = outputs.get("cluster_id")
    if recorded and recorded != cluster.identity():
        raise Conflict(
            f"stack {stack} belongs to another cluster than context {cluster.context!r}",
            hint="select the kubeconfig/context the server was created on",
        )


def _plain(outputs: dict[str, auto.OutputValue]) -> dict[str, Any]:
    return {key: out.value for key, out in outputs.items()}


def _server(deployment: Any) -> Server:
    meta, spec, status = deployment.metadata, deployment.spec, deployment.status
    labels, notes = meta.labels or {}, meta.annotations or {}
    if not spec.replicas:
        state = "Stopped"
    elif (status.ready_replicas or 0) >= 1:
        state = "Running"
    else:
        state = "Pending"
    return Server(
        name=labels.get(lbl.SERVER, meta.name),
        user=labels.get(lbl.OWNER, ""),
        namespace=meta.namespace,
        stack=labels.get(lbl.STACK, ""),
        flavor=labels.get(lbl.FLAVOR, ""),
        status=state,
        expiry=parse_instant(notes[lbl.EXPIRY])
        if lbl.EXPIRY in notes
        else datetime.max.replace(tzinfo=UTC),
        created=meta.creation_timestamp,
    )


def _pod(pod: Any) -> PodInfo:
    conditions = pod.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PodInfo(
        name=pod.metadata.name,
        phase=pod.status.phase or "Unknown",
        ready=ready,
        node=pod.spec.node_name,
    )
