"""The reaper's operations on one cluster and backend: observe every server, then act on one.

Each action (destroy, stop, warn) re-reads the expiry from the server's
stack, and again under the stack's lock; the package's docstring says why,
and what is touched.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from pulumi import automation as auto

from devservers.components import labels as lbl
from devservers.components.durations import format_instant
from devservers.components.expiry import REAP_ERROR, REAP_FAILED_AT, REAP_FAILURES, WARNED_EXPIRY
from devservers.components.idleness import IDLE_STOP_AT, IDLE_STOPPED, WARNED_IDLE
from devservers.components.naming import parse_stack_name
from devservers.stacks.base.errors import Conflict, NotFound
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine import workspace
from devservers.stacks.engine.exports import peek_checkpoint
from devservers.stacks.engine.failures import engine_errors
from devservers.stacks.engine.locks import server_lock, stale_locked_stacks
from devservers.stacks.engine.programs import (
    Checkpoint,
    ServerState,
    cluster_provider,
    guarded,
    outputs_expiry,
)
from devservers.stacks.kube.activity import available_since, read_activity, record_busy
from devservers.stacks.kube.cluster import Cluster, connect
from devservers.stacks.lifecycle import change_server
from devservers.stacks.reaping.observations import Observed, Outcome, observed_from
from devservers.stacks.reaping.signals import read_signals
from devservers.stacks.teardown import destroy_stack

log = logging.getLogger(__name__)

COMPONENT = "devservers-reaper"
"""The reaper's name on the Events it records."""

Due = Callable[[datetime], bool]
"""Whether a server with this expiry is due for the action (evaluated again under the lock)."""


class NoLongerDue(Conflict):
    """Under the stack's lock the server turned out not to be due (extended meanwhile)."""


class Reaping:
    """The reaper's view of one cluster and one state backend.

    Args:
        settings: Backend, kubeconfig and context, as for devctl.
        progress: Receives engine output lines, or ``None``.
        namespace: Observe this namespace only; ``None`` observes all of them.
        cluster: The cluster connection; by default, from ``settings``.
    """

    def __init__(
        self,
        settings: Settings,
        progress: Callable[[str], Any] | None = None,
        namespace: str | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        self.settings = settings
        self.progress = progress
        self.namespace = namespace
        self.cluster: Cluster = cluster or connect(settings)
        self._cluster_id: str | None = None

    @property
    def cluster_id(self) -> str:
        """The UID of the cluster's ``kube-system`` namespace (read once)."""
        if self._cluster_id is None:
            self._cluster_id = self.cluster.identity()
        return self._cluster_id

    def observe(self) -> list[Observed]:
        """Every DevServer on the cluster, from two label-selected list calls, by stack.

        Raises:
            ClusterUnavailable: The API server cannot be reached.
        """
        found: dict[str, Observed] = {}
        for deployment in self.cluster.labelled("deployments", lbl.SELECTOR, self.namespace):
            replicas = (deployment.get("spec") or {}).get("replicas", 1)
            seen = observed_from(deployment.get("metadata") or {}, replicas)
            if seen is not None:
                found[seen.stack] = replace(seen, available_since=available_since(deployment))
        for config_map in self.cluster.labelled("configmaps", lbl.SELECTOR, self.namespace):
            seen = observed_from(config_map.get("metadata") or {}, None)
            if seen is not None:
                found.setdefault(seen.stack, seen)
        for stack in stale_locked_stacks(self.settings, workspace.PROJECT):
            if stack not in found:
                seen = self._interrupted(stack)
                if seen is not None and self.namespace in (None, seen.namespace):
                    found[stack] = seen
        signals = read_signals(self.cluster, self.settings, list(found.values()), self.namespace)
        return sorted(
            (replace(o, signals=signals.get(o.stack)) for o in found.values()),
            key=lambda o: o.stack,
        )

    def _interrupted(self, stack_id: str) -> Observed | None:
        """A stack whose operation was killed (stale lock), as observed from its outputs."""
        parsed = parse_stack_name(stack_id)
        if parsed is None:
            return None
        try:
            _, outputs = self._read(stack_id)
        except NotFound:
            return None
        namespace = (outputs.get("spec") or {}).get("namespace")
        if not namespace:
            return None
        user, name = parsed
        return Observed(stack_id, user, name, namespace, outputs_expiry(outputs), replicas=None)

    def destroy(self, server: Observed, due: Due) -> Outcome:
        """Destroys the server's objects, sweeps leftovers, removes its stack.

        Nothing happens unless the expiry read from the stack, then again
        under the engine's lock, is ``due``; this machine's lock on the
        server is held throughout. Objects deleted by hand are not an error;
        what an interrupted command left (stale locks of dead processes,
        pending operations) is cleared first (:func:`devservers.stacks.teardown.destroy_stack`).

        Raises:
            ProvisionError: The engine failed, or objects survived; the stack
                is left for a later pass.
        """
        passed: list[bool] = []

        def check(checkpoint: Checkpoint) -> None:
            if checkpoint.resources == 0:
                raise NoLongerDue("gone: already destroyed by another operation")
            latest = outputs_expiry(checkpoint.outputs) or server.expiry
            if latest is None or not due(latest):
                shown = format_instant(latest) if latest else "unknown"
                raise NoLongerDue(f"extended meanwhile: expiry is now {shown}")
            passed.append(True)

        def run() -> Outcome:
            opened = self._open(server)
            if isinstance(opened, Outcome):
                return opened
            stack, outputs = opened
            expiry = outputs_expiry(outputs) or server.expiry
            if expiry is None or not due(expiry):
                return _not_due(expiry)
            provider = _provider_only(self.settings)
            with guarded(stack, provider, check) as program, engine_errors(stack.name, "destroy"):
                destroy_stack(
                    self.settings,
                    self.cluster,
                    stack,
                    server.namespace,
                    progress=self.progress,
                    program=program,
                )
            return Outcome("deleted", f"expired at {format_instant(expiry)}")

        outcome = self._serialized(server, "reap", run)
        if passed and outcome.state == "skipped":
            # The destroy went through; only removing the empty stack raced.
            return Outcome("deleted", f"destroyed; the stack: {outcome.reason}")
        return outcome

    def stop(self, server: Observed, due: Due) -> Outcome:
        """Scales the server to zero through its stack (the ``stop`` expiry policy).

        The same update path as ``devctl stop`` (:func:`devservers.stacks.lifecycle.change_server`).

        Raises:
            ProvisionError: The engine failed.
        """
        expiries: list[datetime] = []

        def change(state: ServerState) -> ServerState:
            if state.spec.namespace != server.namespace:
                raise Conflict(f"stack {server.stack} is for namespace {state.spec.namespace}")
            if not due(state.expiry):
                raise NoLongerDue(f"not due: expiry is {format_instant(state.expiry)} (extended)")
            expiries.append(state.expiry)
            return replace(state, replicas=0)

        def run() -> Outcome:
            if not server.is_ours:
                return Outcome("skipped", f"stack {server.stack!r} is not <owner>.<server>")
            changed = change_server(
                self.settings, server.user, server.name, change, wait=False, progress=self.progress
            )
            if not changed:
                return Outcome("skipped", "already stopped")
            self._annotate(server, {REAP_FAILURES: None, REAP_FAILED_AT: None, REAP_ERROR: None})
            return Outcome("stopped", f"expired at {format_instant(expiries[0])}")

        return self._serialized(server, None, run)

    def warn(self, server: Observed, message: str) -> Outcome:
        """Records a Warning Event on the server's Deployment and remembers it was warned.

        Only servers whose stack is in this backend (same namespace and
        cluster) are warned: objects of other backends are not the reaper's.

        Raises:
            ClusterUnavailable: The API server refused or cannot be reached.
        """
        if server.expiry is None:
            return Outcome("skipped", "no expiry to warn about")
        return self._warn(server, "ExpiringSoon", message, {WARNED_EXPIRY: server.expiry})

    def idle_stop(self, server: Observed, since: datetime, reason: str) -> Outcome:
        """Scales an idle server to zero through its stack, as ``devctl stop`` does.

        Its Lease is read again first: a connection or busy record newer
        than ``since`` skips the stop. Claims, host keys and the expiry are
        kept; the Deployment is annotated with ``reason`` (``describe`` and
        ``devctl ssh`` show it until the next start).

        Raises:
            ProvisionError: The engine failed.
        """
        if not server.is_ours:
            return Outcome("skipped", f"stack {server.stack!r} is not <owner>.<server>")
        fresh = read_activity(self.cluster, server.namespace, server.name)
        latest = [t for t in (fresh.connected_at, fresh.busy_at) if t] if fresh else []
        if latest and max(latest) > since:
            return Outcome("skipped", f"active meanwhile (at {format_instant(max(latest))})")

        def change(state: ServerState) -> ServerState:
            if state.spec.namespace != server.namespace:
                raise Conflict(f"stack {server.stack} is for namespace {state.spec.namespace}")
            return replace(state, replicas=0)

        def run() -> Outcome:
            changed = change_server(
                self.settings, server.user, server.name, change, wait=False, progress=self.progress
            )
            if not changed:
                return Outcome("skipped", "already stopped")
            self._annotate(
                server,
                {
                    IDLE_STOPPED: reason,
                    REAP_FAILURES: None,
                    REAP_FAILED_AT: None,
                    REAP_ERROR: None,
                },
            )
            return Outcome("stopped", reason)

        return self._serialized(server, None, run)

    def warn_idle(
        self, server: Observed, since: datetime, stop_at: datetime, message: str
    ) -> Outcome:
        """Records an ``IdleSoon`` Warning Event; remembers the idle period and the stop it names.

        Raises:
            ClusterUnavailable: The API server refused or cannot be reached.
        """
        return self._warn(server, "IdleSoon", message, {WARNED_IDLE: since, IDLE_STOP_AT: stop_at})

    def _warn(
        self, server: Observed, reason: str, message: str, warned: dict[str, datetime]
    ) -> Outcome:
        """Records a Warning Event (``reason``) on the Deployment, then the ``warned`` instants."""
        if server.replicas is None:
            return Outcome("skipped", "no Deployment to warn on")
        opened = self._open(server)
        if isinstance(opened, Outcome):
            return opened
        self.cluster.record_event(
            server.namespace, server.name, server.uid, reason, message, COMPONENT
        )
        self._annotate(server, {key: format_instant(at) for key, at in warned.items()})
        return Outcome("warned", message)

    def record_busy(self, server: Observed, busy: str) -> Outcome:
        """Records on the server's Lease that this pass found it active (``busy``).

        A server without a Lease (made before the idle stop) is left alone.

        Raises:
            ClusterUnavailable: The API server refused or cannot be reached.
        """
        try:
            record_busy(self.cluster, server.namespace, server.name, busy)
        except NotFound:
            return Outcome("active", "no activity Lease")
        return Outcome("active", busy)

    def record_failure(self, server: Observed, state: str, reason: str, now: datetime) -> None:
        """Remembers a failed attempt on the Deployment (for backoff, ``list`` and ``describe``)."""
        first_line = (reason.strip().splitlines() or [""])[0][:300]
        self._annotate(
            server,
            {
                REAP_FAILURES: str(server.failures + 1),
                REAP_FAILED_AT: format_instant(now),
                REAP_ERROR: f"{state}: {first_line}",
            },
        )

    def _open(self, server: Observed) -> tuple[auto.Stack, dict[str, Any]] | Outcome:
        if not server.is_ours:
            return Outcome("skipped", f"stack {server.stack!r} is not <owner>.<server>")
        try:
            stack, outputs = self._read(server.stack)
        except NotFound:
            return Outcome("skipped", "gone: no such stack in this backend")
        namespace = (outputs.get("spec") or {}).get("namespace", server.namespace)
        if namespace != server.namespace:
            return Outcome("skipped", f"stack {server.stack} is for namespace {namespace}")
        if outputs.get("cluster_id", self.cluster_id) != self.cluster_id:
            return Outcome("skipped", f"stack {server.stack} belongs to another cluster")
        return stack, outputs

    def _read(self, stack_id: str) -> tuple[auto.Stack, dict[str, Any]]:
        """Opens a stack and reads its outputs (secrets sealed); :class:`NotFound` if it is gone."""
        with engine_errors(stack_id, "read"):
            stack = workspace.select_stack(self.settings, stack_id)
            return stack, peek_checkpoint(self.settings, stack).outputs

    def _serialized(
        self, server: Observed, action: str | None, run: Callable[[], Outcome]
    ) -> Outcome:
        """Runs ``run`` (under this machine's lock on the server if ``action`` names one).

        Another operation on the server (a busy or locked stack, a change
        meanwhile) makes the outcome ``skipped``, not a failure; so does a
        stack removed meanwhile.
        """
        try:
            if action is None:
                return run()
            with server_lock(self.settings, server.stack, action):
                return run()
        except NotFound:
            return Outcome("skipped", "gone: removed by another operation meanwhile")
        except Conflict as exc:
            return Outcome("skipped", exc.message)

    def _annotate(self, server: Observed, notes: dict[str, str | None]) -> None:
        if server.replicas is None:
            return
        try:
            self.cluster.annotate_deployment(server.namespace, server.name, notes)
        except NotFound:
            log.info("Deployment %s/%s is gone; nothing to annotate", server.namespace, server.name)


def _not_due(expiry: datetime | None) -> Outcome:
    shown = format_instant(expiry) if expiry else "unknown"
    return Outcome("skipped", f"not due: expiry is {shown} (extended)")


def _provider_only(settings: Settings) -> Callable[[], None]:
    """The program of a destroy: the stack's provider with this reaper's credentials.

    The engine deletes everything, with that provider (``run_program``): a
    reaper in a pod destroys stacks made by ``devctl`` on a laptop, whose
    recorded kubeconfig is the laptop's.
    """

    def program() -> None:
        cluster_provider(settings)

    return program
