"""The DevServer stack program, and the one path that runs it on a stack.

``create``, ``extend``, ``stop``, ``start`` and the reaper's ``stop`` policy
all run the same program through :func:`apply_state`; they differ only in
the :class:`ServerState` they pass. A state is rebuilt from the stack's
outputs, so every update reuses the stored spec and SSH host keys.

An update may carry a *check*: it runs inside the program, that is while the
engine holds the stack's lock, on the outputs of the last completed update.
That is how an operation refuses to overwrite a change that another one made
between its first read and the lock (compare-and-swap on the outputs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from importlib import import_module
from typing import Any

import pulumi
from pulumi import automation as auto

from devservers.components import DevServerSpec
from devservers.components.durations import format_instant, parse_instant
from devservers.stacks.base.background import in_background
from devservers.stacks.base.errors import DevserversError
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine.backends import identity
from devservers.stacks.engine.exports import SEALED, Checkpoint, read_checkpoint
from devservers.stacks.engine.hostkeys import public_host_keys
from devservers.stacks.engine.progress import Progress, engine_output

Check = Callable[[Checkpoint], None]
"""Called under the stack's lock with its last completed state; raises to abort."""


@dataclass(frozen=True)
class ServerState:
    """What one DevServer stack holds: the program's whole input.

    Attributes:
        spec: The validated spec, expiry included.
        replicas: 1 (running) or 0 (stopped).
        host_private_keys: Mapping of host key type → OpenSSH private key text;
            empty when read without decrypting (:func:`.exports.peek_checkpoint`):
            an update then takes them from the checkpoint it reads under the lock.
        cluster_id: UID of the ``kube-system`` namespace of the server's cluster.
        host_public_keys: Their public halves as recorded, when the private keys
            were not decrypted.
    """

    spec: DevServerSpec
    replicas: int
    host_private_keys: dict[str, str]
    cluster_id: str
    host_public_keys: dict[str, str] = field(default_factory=dict)

    @property
    def expiry(self) -> datetime:
        """The UTC expiry instant."""
        return self.spec.expiry

    def with_expiry(self, expiry: datetime) -> ServerState:
        """The same state with another expiry."""
        return replace(self, spec=self.spec.model_copy(update={"expiry": expiry}))


def read_state(stack: auto.Stack) -> ServerState | None:
    """The state stored in a stack's outputs; ``None`` before its first completed update."""
    return state_from_outputs(read_checkpoint(stack).outputs)


def state_from_outputs(outputs: dict[str, Any]) -> ServerState | None:
    """The state in plain stack outputs; ``None`` before the stack's first completed update."""
    if "spec" not in outputs or "host_private_keys" not in outputs:
        return None
    private = outputs["host_private_keys"]
    return ServerState(
        spec=DevServerSpec(**outputs["spec"]),
        replicas=int(outputs.get("replicas", 1)),
        host_private_keys={} if private == SEALED else dict(private),
        cluster_id=str(outputs.get("cluster_id", "")),
        host_public_keys=dict(outputs.get("host_public_keys") or {}) if private == SEALED else {},
    )


def apply_state(
    settings: Settings,
    stack: auto.Stack,
    state: ServerState,
    *,
    wait: bool = True,
    progress: Progress | None = None,
    check: Check | None = None,
    refresh: bool = False,
    prepare: Callable[[ServerState], ServerState] | None = None,
) -> dict[str, Any]:
    """Runs the DevServer program for ``state`` on ``stack`` (first create or update).

    With ``refresh``, the engine first reads the objects back from the cluster,
    so that ones deleted or edited by hand are put back. ``prepare`` runs in
    the program, under the engine's lock and before anything is registered,
    and returns the state to apply (it may wait for checks started while the
    engine started, and raise to refuse).

    Returns:
        The stack's outputs after the update, as plain values: the program's
        own (:func:`state_outputs`), so none is read back from the engine.

    Call it inside :func:`~devservers.stacks.engine.failures.engine_errors` (and, to
    end a wait early and explain it, :func:`~devservers.stacks.waits.watched_wait`).

    Raises:
        DevserversError: Whatever ``check`` raised; nothing was changed.
        pulumi.automation.CommandError: The engine failed (locked stack included).
    """
    locked: list[Checkpoint] = []

    def checked(checkpoint: Checkpoint) -> None:
        locked.append(checkpoint)
        if check is not None:
            check(checkpoint)

    applied = [state]

    def program() -> None:  # sealed host keys: the ones of the checkpoint read under the lock
        keys = state.host_private_keys or dict(locked[-1].outputs.get("host_private_keys") or {})
        applied.append(replace(state, host_private_keys=keys))
        if prepare is not None:
            applied.append(prepare(applied[-1]))
        server_program(settings, applied[-1], wait)()

    sealed = not state.host_private_keys
    in_background(lambda: import_module("devservers.components.devserver"))  # as the engine starts
    with guarded(stack, program, checked if check or sealed else None) as run:
        stack.up(
            program=run,
            color="never",
            suppress_outputs=True,
            refresh=refresh,
            **engine_output(progress, stack.name),
        )
    return state_outputs(applied[-1])


@contextmanager
def guarded(
    stack: auto.Stack, program: Callable[[], None], check: Check | None
) -> Iterator[Callable[[], None]]:
    """A program that first runs ``check`` under the lock; re-raises the check's error.

    Use it around the engine call: when the check (or ``program`` itself)
    refused with a :class:`DevserversError`, the engine's "program failed"
    error (raw or already mapped) is replaced by that error.
    """
    refused: list[DevserversError] = []

    def run() -> None:
        try:
            if check is not None:
                check(read_checkpoint(stack))
            program()
        except DevserversError as exc:
            refused.append(exc)
            raise

    try:
        yield run
    except Exception:
        if refused:
            raise refused[0] from None
        raise


def state_outputs(state: ServerState) -> dict[str, Any]:
    """The outputs :func:`server_program` exports for ``state``, as plain values."""
    private = state.host_private_keys
    return {
        "expiry": format_instant(state.spec.expiry),
        "replicas": state.replicas,
        "spec": state.spec.model_dump(mode="json"),
        "cluster_id": state.cluster_id,
        "host_public_keys": public_host_keys(private) if private else dict(state.host_public_keys),
        "host_private_keys": dict(private),
    }


def outputs_expiry(outputs: dict[str, Any]) -> datetime | None:
    """The ``expiry`` output as an instant, if the stack has one."""
    text = outputs.get("expiry")
    return parse_instant(text) if isinstance(text, str) else None


def cluster_provider(settings: Settings) -> pulumi.ProviderResource:
    """The stack's Kubernetes provider ``cluster``, with the kubeconfig and context of ``settings``.

    In a pod that is the ServiceAccount's kubeconfig file
    (:mod:`devservers.stacks.kube.incluster`, which says why a path).
    Secrets and ConfigMaps are updated in place (the provider's default
    replaces them, and with them the Deployment that mounts them): new
    authorized keys, or the start script of a newer devservers, then reach
    the running pod without restarting it.
    """
    import pulumi_kubernetes as k8s

    return k8s.Provider(
        "cluster",
        kubeconfig=settings.kubeconfig_files,
        context=settings.context,
        enable_config_map_mutable=True,
        enable_secret_mutable=True,
    )


def server_program(settings: Settings, state: ServerState, wait: bool) -> Callable[[], None]:
    """The inline program of one DevServer stack.

    Outputs: ``expiry`` (RFC 3339 UTC), ``replicas``, ``spec``, ``cluster_id``,
    ``host_public_keys`` and ``host_private_keys`` (secret).
    """

    def program() -> None:
        from devservers.components.devserver import DevServer

        provider = cluster_provider(settings)
        DevServer(
            state.spec,
            host_private_keys=state.host_private_keys,
            replicas=state.replicas,
            timeout_seconds=settings.operation_timeout_seconds,
            wait=wait,
            backend=identity(settings.backend),
            opts=pulumi.ResourceOptions(providers=[provider]),
        )
        for key, value in state_outputs(state).items():
            secret = key == "host_private_keys"
            pulumi.export(key, pulumi.Output.secret(value) if secret else value)

    return program
