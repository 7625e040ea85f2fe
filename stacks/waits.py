"""Waits that end when the cluster has said why: a watcher beside the engine's ``up``.

While the engine awaits the Deployment (create, start, repair), a thread
reads the server's Deployment, ReplicaSets, pods and the namespace's Events
once per :data:`POLL_SECONDS` (one list call per kind) and classifies them
(:func:`devservers.stacks.kube.readiness.blocked`). On a final reason — a
quota refusal, an image that cannot be pulled, a container that exits — it
interrupts the engine (:mod:`.engine.interrupts`: the engine's own graceful
cancel, so the stack stays consistent and the next command resumes) and the
operation fails at once with that reason instead of after
``operation_timeout_seconds``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from devservers.stacks.base.errors import DevserversError, LimitExceeded, ProvisionError
from devservers.stacks.diagnostics import explain_failure, pod_report
from devservers.stacks.engine.interrupts import interrupt_update
from devservers.stacks.kube.cluster import Cluster
from devservers.stacks.kube.facts import read_facts
from devservers.stacks.kube.readiness import (
    IMAGE_ERRORS,
    LOG_LINES,
    NO_CONTROLLER,
    NO_SCHEDULER,
    Blocked,
    blocked,
    event_counts,
    new_events,
    replica_failures,
    unacted,
)

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
"""Interval between two reads of the server's objects while the engine waits."""

CONTROLLER_SECONDS = 30.0
"""How long (seconds) no controller (or scheduler) acting on the server's objects ends a
wait (:func:`~devservers.stacks.kube.readiness.unacted`): a restarted kube-controller-manager
waits out its predecessor's leader lease (15 s by default) before it acts."""

SETTLE_SECONDS = {
    "Unschedulable": 5.0,
    NO_CONTROLLER: CONTROLLER_SECONDS,
    NO_SCHEDULER: CONTROLLER_SECONDS,
}
"""Reasons the cluster may still resolve by itself (the scheduler retries when nodes or
claims change; a control plane restarts): they end a wait only once seen this long
(seconds) on every poll."""

STALE_SECONDS = 20.0
"""A ``ReplicaFailure`` condition already True when the wait began may be about a problem
solved since (a quota freed): the ReplicaSet controller retries it only after its
back-off. It ends the wait once a new FailedCreate Event repeats it, or after this long
(seconds)."""

AUTOSCALER_STATUS = ("kube-system", "cluster-autoscaler-status")
"""The ConfigMap the Kubernetes cluster-autoscaler publishes (``--write-status-configmap``)."""


@dataclass(frozen=True)
class Target:
    """The server a wait is about: the stack ``stack`` owns ``namespace/name`` of ``user``."""

    cluster: Cluster
    namespace: str
    user: str
    name: str
    stack: str


@contextmanager
def watched_wait(target: Target, timeout_seconds: int, wait: bool = True) -> Iterator[None]:
    """Runs the engine call inside the block beside a watcher of the cluster's reasons.

    Without ``wait`` (the engine does not await readiness) no watcher runs;
    a failure is still explained as by
    :func:`~devservers.stacks.diagnostics.explain_failure`.

    Raises:
        LimitExceeded: A ResourceQuota or LimitRange refused the pod (exit 4).
        ProvisionError: Another final reason (image, exit, admission,
            unschedulable), or the engine failed with the pods' report.
    """
    t = target
    explained = explain_failure(t.cluster, t.namespace, t.user, t.name, t.stack, timeout_seconds)
    if not wait:
        with explained:
            yield
        return
    watcher = _Watcher(target)
    watcher.start()
    try:
        with explained:
            yield
    except ProvisionError as exc:
        watcher.stop()
        if watcher.found is not None:
            raise blocked_error(target, watcher.found) from exc.__cause__
        raise
    finally:
        watcher.stop()


def blocked_error(target: Target, found: Blocked) -> DevserversError:
    """The error of a wait ended by ``found``, with the pods' report beneath it.

    A pod that could not be created has no report: there is no pod.
    """
    try:
        report = pod_report(target.cluster, target.namespace, target.user, target.name)
    except DevserversError:
        report = []
    if found.reason == "FailedCreate":
        report = []
    lines = [f"DevServer {target.name!r} cannot become Ready: {found.describe()}"]
    if report:
        lines += ["pods:", *report]
    error = LimitExceeded if found.limit else ProvisionError
    return error("\n".join(lines), hint=_hint(found, target.name))


def _hint(found: Blocked, name: str) -> str:
    again = f"then run the same command again, or 'devctl delete {name}'"
    if found.limit:
        return (
            "free some of your quota (delete a server), or ask for less: "
            f"'devctl delete {name}', then 'devctl create {name} --flavor F'"
        )
    if found.reason in IMAGE_ERRORS:
        return (
            "the nodes must be able to pull the image (the image setting, or "
            f"'devctl create {name} --image IMG'); {again}"
        )
    if found.container is not None:
        return f"see README 'DevServer images' for what an image needs; 'devctl logs {name}'"
    if found.reason == "Unschedulable":
        return f"'devctl flavors' shows which flavors fit now; {again}"
    if found.reason in (NO_CONTROLLER, NO_SCHEDULER):
        return f"an admin can check the cluster's control plane; {again}"
    return f"an admin can say which policy refused it; {again}"


class _Watcher:
    """The polling thread of one wait; ``found`` is the first final reason it saw."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.found: Blocked | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"wait-{target.name}", daemon=True)
        self._seen: dict[str, int] | None = None
        self._stale: set[str] = set()
        self._began = time.monotonic()
        self._autoscaler = False
        self._since: tuple[str | None, float] = (None, 0.0)

    def start(self) -> None:
        """Starts polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stops polling and waits for the thread (at most one poll)."""
        self._stopped.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        self._autoscaler = _has_autoscaler(self.target.cluster)
        while not self._stopped.is_set():
            try:
                found = self._poll()
            except DevserversError as exc:  # the engine reports an unreachable cluster itself
                log.debug("wait for %s: %s", self.target.name, exc.message)
                found = None
            found = self._settled(found)
            if found is not None and not self._stopped.is_set():
                self.found = self._with_logs(found)
                interrupted = interrupt_update(self.target.stack)
                log.debug(
                    "wait for %s ended: %s (engine interrupted: %s)",
                    self.target.name,
                    found.reason,
                    interrupted,
                )
                return
            self._stopped.wait(POLL_SECONDS)

    def _settled(self, found: Blocked | None) -> Blocked | None:
        """``found`` once it has lasted its :data:`SETTLE_SECONDS`, else ``None``."""
        now = time.monotonic()
        if found is None or found.reason != self._since[0]:
            self._since = (found.reason if found else None, now)
        if found is None or now - self._since[1] < SETTLE_SECONDS.get(found.reason, 0):
            return None
        return found

    def _poll(self) -> Blocked | None:
        t = self.target
        facts = read_facts(t.cluster, t.namespace, t.user, t.name)
        if self._seen is None:  # what is from before the wait may be about a solved problem
            self._seen = event_counts(facts.events)
            self._stale = replica_failures(facts.deployment, facts.replica_sets)
        fresh = new_events(facts.events, self._seen)
        recent = time.monotonic() - self._began < STALE_SECONDS
        found = blocked(
            facts.deployment,
            facts.replica_sets,
            facts.pods,
            fresh,
            autoscaler=self._autoscaler,
            stale=self._stale if recent else (),
        )
        return found or unacted(facts.deployment, facts.replica_sets, facts.pods)

    def _with_logs(self, found: Blocked) -> Blocked:
        if found.container is None or found.logs:
            return found
        pod, container = found.container
        try:
            lines = self.target.cluster.container_log(
                self.target.namespace, pod, container, LOG_LINES
            )
        except DevserversError:
            return found
        return Blocked(found.reason, found.message, found.limit, tuple(lines), found.container)


def _has_autoscaler(cluster: Cluster) -> bool:
    """Whether the cluster-autoscaler's status ConfigMap exists (unreadable: assume not)."""
    try:
        return cluster.config_map(*AUTOSCALER_STATUS) is not None
    except DevserversError:
        return False
