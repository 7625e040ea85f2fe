"""One reaper pass: observe every DevServer, decide, act on each, report.

A pass never stops at a failing server: each failure is caught, logged,
recorded on the server's Deployment (for backoff and for ``devctl list``)
and reported with the state ``destroy-failed`` / ``stop-failed`` /
``warn-failed``; later passes retry.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from devservers.components.expiry import is_expired
from devservers.reaper.decisions import Decision, Rules, decide
from devservers.stacks import DevserversError, Observed, Outcome

log = logging.getLogger(__name__)

_FAILED = {
    "delete": "destroy-failed",
    "stop": "stop-failed",
    "idle-stop": "stop-failed",
    "warn": "warn-failed",
    "idle-warn": "warn-failed",
    "active": "record-failed",
}
_REPORTED = ("active", "idle", "incomplete")
"""Actions that change nothing but are reported, with the deciding signal."""


class Target(Protocol):
    """What a pass acts on: :class:`devservers.stacks.Reaping`, or a test double."""

    def observe(self) -> list[Observed]:
        """Every DevServer on the cluster."""
        ...

    def destroy(self, server: Observed, due: Callable[[datetime], bool]) -> Outcome:
        """Destroys the server if its expiry, re-read under the lock, is ``due``."""
        ...

    def stop(self, server: Observed, due: Callable[[datetime], bool]) -> Outcome:
        """Scales the server to zero if its expiry, re-read, is ``due``."""
        ...

    def warn(self, server: Observed, message: str) -> Outcome:
        """Records the warning on the server's Deployment."""
        ...

    def idle_stop(self, server: Observed, since: datetime, reason: str) -> Outcome:
        """Scales the server to zero if it has stayed idle since ``since`` (re-read first)."""
        ...

    def warn_idle(
        self, server: Observed, since: datetime, stop_at: datetime, message: str
    ) -> Outcome:
        """Records the idle warning about the idle period since ``since`` (stop at ``stop_at``)."""
        ...

    def record_busy(self, server: Observed, busy: str) -> Outcome:
        """Records on the server's Lease that this pass found it active (``busy``)."""
        ...

    def record_failure(self, server: Observed, state: str, reason: str, now: datetime) -> None:
        """Remembers a failed attempt for backoff and for ``devctl list``."""
        ...


@dataclass(frozen=True)
class Result:
    """What the pass did (or, in a dry run, would do) to one server.

    Attributes:
        action: ``delete``, ``stop``, ``warn``, ``idle-stop``, ``idle-warn``,
            ``skip`` (backoff), ``active`` / ``idle`` (servers with an idle
            stop that were left alone), or ``incomplete`` (objects without a
            Deployment, left alone until due).
        state: ``deleted``, ``stopped``, ``warned``, ``skipped``, ``active``,
            ``idle``, ``would-<action>``, ``<verb>-failed`` (``destroy-failed``
            for ``delete``, ``stop-failed`` for ``idle-stop``), or
            ``interrupted`` (a stop signal cut the action short; not a failure).
        reason: Why, in words: the expiry, the idle signals, a lock, an error.
    """

    stack: str
    user: str
    name: str
    namespace: str
    expiry: datetime | None
    action: str
    state: str
    reason: str


@dataclass(frozen=True)
class PassReport:
    """One pass: when, how long, what was seen and what happened.

    Attributes:
        started: When the pass started (the instant decisions were made at, UTC).
        duration_seconds: Wall time of the pass.
        servers: How many DevServers were observed.
        results: One entry per server the pass acted on or would act on.
    """

    started: datetime
    duration_seconds: float
    dry_run: bool
    policy: str
    servers: int
    results: tuple[Result, ...]

    @property
    def failed(self) -> bool:
        """Whether any server's action failed."""
        return any(r.state.endswith("-failed") for r in self.results)


def run_pass(
    target: Target,
    rules: Rules,
    now: datetime,
    dry_run: bool = False,
    parallel: int = 1,
    stopping: threading.Event | None = None,
) -> PassReport:
    """Observes every DevServer, then acts on those whose decision at ``now`` calls for it.

    Args:
        target: What to observe and act on.
        rules: The expiry policy, retention and warning window.
        now: The instant decisions are made at (UTC).
        dry_run: Decide and report only.
        parallel: How many actions run at once (threads; each destroy or stop
            is one engine operation).
        stopping: Once set, no further server is started; those in hand finish
            and only they are reported.

    Raises:
        ClusterUnavailable: The servers cannot be listed (nothing was done).
    """
    started = time.monotonic()
    observed = target.observe()
    decided = [(s, d) for s in observed if (d := decide(s, now, rules)).action != "none"]

    def handle(entry: tuple[Observed, Decision]) -> Result | None:
        server, decision = entry
        if stopping is not None and stopping.is_set():
            return None
        if decision.action in _REPORTED and (dry_run or not decision.busy):
            return _result(server, decision, decision.action, decision.reason)
        if dry_run or decision.action == "skip":
            state = "skipped" if decision.action == "skip" else f"would-{decision.action}"
            return _result(server, decision, state, decision.reason)
        return _act(target, server, decision, rules, now, stopping)

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        results = tuple(r for r in pool.map(handle, decided) if r is not None)
    return PassReport(
        started=now,
        duration_seconds=round(time.monotonic() - started, 3),
        dry_run=dry_run,
        policy=rules.policy,
        servers=len(observed),
        results=results,
    )


def _act(
    target: Target,
    server: Observed,
    decision: Decision,
    rules: Rules,
    now: datetime,
    stopping: threading.Event | None,
) -> Result:
    try:
        if decision.action == "delete":
            outcome = target.destroy(server, lambda e: is_expired(rules.deletion_due(e), now))
        elif decision.action == "stop":
            outcome = target.stop(server, lambda e: is_expired(e, now))
        elif decision.action == "idle-stop" and decision.since is not None:
            outcome = target.idle_stop(server, decision.since, decision.reason)
        elif decision.action == "idle-warn" and decision.since and decision.stop_at:
            outcome = target.warn_idle(server, decision.since, decision.stop_at, decision.reason)
        elif decision.action == "active" and decision.busy is not None:
            outcome = target.record_busy(server, decision.busy)
        else:
            outcome = target.warn(server, decision.reason)
    except Exception as exc:  # one server's failure must never stop the pass
        if stopping is not None and stopping.is_set():
            return _interrupted(server, decision, exc)
        return _failed(target, server, decision, exc, now)
    if decision.action == "active":
        return _result(server, decision, outcome.state, decision.reason)
    log.info("%s %s: %s", outcome.state, server.stack, outcome.reason)
    return _result(server, decision, outcome.state, outcome.reason)


def _failed(
    target: Target, server: Observed, decision: Decision, exc: Exception, now: datetime
) -> Result:
    state = _FAILED[decision.action]
    if isinstance(exc, DevserversError):
        reason = exc.message
        log.error("%s %s: %s", state, server.stack, reason)
    else:
        reason = f"{type(exc).__name__}: {exc}"
        log.exception("%s %s: unexpected error", state, server.stack)
    if decision.action in ("delete", "stop", "idle-stop"):
        try:
            target.record_failure(server, state, reason, now)
        except Exception:  # recording is best effort
            log.warning("could not record the failure on %s", server.stack, exc_info=True)
    return _result(server, decision, state, reason)


def _interrupted(server: Observed, decision: Decision, exc: Exception) -> Result:
    """An action a stop signal cut short (Ctrl-C reaches the engine too): no failure, no backoff.

    The next pass takes the server up again at once; what the engine left is
    cleared first, as after any interrupted command.
    """
    why = exc.message if isinstance(exc, DevserversError) else f"{type(exc).__name__}: {exc}"
    log.warning("interrupted %s: %s", server.stack, why)
    return _result(server, decision, "interrupted", f"interrupted by a stop signal: {why}")


def _result(server: Observed, decision: Decision, state: str, reason: str) -> Result:
    return Result(
        stack=server.stack,
        user=server.user,
        name=server.name,
        namespace=server.namespace,
        expiry=server.expiry,
        action=decision.action,
        state=state,
        reason=reason,
    )
