"""Reaper decisions and passes with an injected clock and a fake cluster/backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devservers.reaper.decisions import Rules, decide
from devservers.reaper.passes import run_pass
from devservers.reaper.report import as_data, as_text
from devservers.reaper.service import build_scheduler
from devservers.stacks import Observed, Outcome, ProvisionError

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
DELETE = Rules(policy="delete", retention=24 * 60 * M, warning=30 * M)
STOP = Rules(policy="stop", retention=24 * 60 * M, warning=30 * M)


def server(name: str = "box", expires_in: timedelta = 60 * M, **fields: object) -> Observed:
    base = Observed(
        stack=f"alice.{name}",
        user="alice",
        name=name,
        namespace="dev-alice",
        expiry=NOW + expires_in,
        replicas=1,
        uid="uid",
    )
    return replace(base, **fields)


# --- decisions --------------------------------------------------------------


@pytest.mark.parametrize(
    ("expires_in", "action"),
    [
        (2 * 60 * M, "none"),  # far from expiry
        (31 * M, "none"),  # just outside the warning window
        (30 * M, "warn"),
        (1 * M, "warn"),
        (timedelta(0), "delete"),  # the expiry instant itself
        (-1 * M, "delete"),
        (-30 * 24 * 60 * M, "delete"),  # long overdue: a missed pass loses nothing
    ],
)
def test_policy_delete(expires_in: timedelta, action: str) -> None:
    assert decide(server(expires_in=expires_in), NOW, DELETE).action == action


def test_delete_reason_names_the_expiry_and_how_long_ago() -> None:
    decision = decide(server(expires_in=-5 * M), NOW, DELETE)
    assert decision.reason == "expired at 2026-03-01T11:55:00Z (5m ago)"


@pytest.mark.parametrize("expires_in", [timedelta(seconds=59), timedelta(seconds=1)])
def test_a_warning_under_a_minute_before_expiry_never_says_in_0m(expires_in: timedelta) -> None:
    reason = decide(server(expires_in=expires_in), NOW, DELETE).reason

    assert "(in <1m)" in reason
    assert "0m" not in reason


def test_a_server_that_just_expired_did_not_expire_0m_ago() -> None:
    reason = decide(server(expires_in=-timedelta(seconds=20)), NOW, DELETE).reason

    assert reason.endswith("(<1m ago)")


@pytest.mark.parametrize(
    ("expires_in", "replicas", "action"),
    [
        (10 * M, 1, "warn"),
        (-1 * M, 1, "stop"),  # expired and running: stop first
        (-1 * M, 0, "none"),  # already stopped: kept for the retention period
        (-1 * M, None, "incomplete"),  # Deployment gone: reported, deleted after retention
        (-24 * 60 * M, 0, "delete"),  # retention over
        (-24 * 60 * M, 1, "delete"),  # retention over, even if started again meanwhile
    ],
)
def test_policy_stop(expires_in: timedelta, replicas: int | None, action: str) -> None:
    decided = decide(server(expires_in=expires_in, replicas=replicas), NOW, STOP)
    assert decided.action == action


@pytest.mark.parametrize("expires_in", [5 * 60 * M, 10 * M])
def test_objects_left_without_a_deployment_are_reported_never_warned(expires_in: timedelta) -> None:
    decided = decide(server(expires_in=expires_in, replicas=None), NOW, DELETE)
    assert decided.action == "incomplete"
    assert "no Deployment" in decided.reason
    assert "'devctl delete box' as alice removes them" in decided.reason


def test_a_pass_reports_objects_left_without_a_deployment_and_touches_them_not() -> None:
    target = FakeTarget(
        [server("half", 5 * M, replicas=None), server("old", -5 * M, replicas=None)]
    )
    report = run_pass(target, DELETE, NOW)
    assert target.calls == [("destroy", "old")]  # due: the destroy sweeps what is left
    assert [(r.name, r.action, r.state) for r in report.results] == [
        ("half", "incomplete", "incomplete"),
        ("old", "delete", "deleted"),
    ]
    assert not report.failed


def test_each_expiry_is_warned_once() -> None:
    soon = server(expires_in=10 * M)
    assert decide(soon, NOW, DELETE).action == "warn"
    assert decide(replace(soon, warned_expiry=soon.expiry), NOW, DELETE).action == "none"
    # An extension moves the expiry: the new one gets its own warning.
    older = replace(soon, warned_expiry=NOW - 60 * M)
    assert decide(older, NOW, DELETE).action == "warn"


def test_warning_names_the_command_and_the_fate() -> None:
    assert (
        "will be deleted at 2026-03-01T12:10:00Z (in 10m)"
        in decide(server(expires_in=10 * M), NOW, DELETE).reason
    )
    warned = decide(server(expires_in=10 * M), NOW, STOP).reason
    assert "will be stopped" in warned
    assert "devctl extend box --by 2h" in warned


@pytest.mark.parametrize(
    ("stack", "user", "name"),
    [("prod", "alice", "box"), ("bob.box", "alice", "box"), ("alice.other", "alice", "box")],
)
def test_objects_whose_stack_is_not_owner_dot_server_are_never_touched(
    stack: str, user: str, name: str
) -> None:
    foreign = server(expires_in=-60 * M, stack=stack, user=user, name=name)
    assert decide(foreign, NOW, DELETE).action == "none"


def test_missing_expiry_is_left_alone() -> None:
    assert decide(server(expiry=None), NOW, DELETE).action == "none"


def test_failed_servers_back_off_exponentially() -> None:
    failed = server(
        expires_in=-60 * M,
        failures=3,
        failed_at=NOW - 3 * M,
        last_error="destroy-failed: boom",
    )
    waiting = decide(failed, NOW, DELETE)
    assert waiting.action == "skip"
    assert "destroy-failed: boom; 3 failed attempt(s), next after 2026-03-01T12:01:00Z" in (
        waiting.reason
    )
    assert decide(failed, NOW + 1 * M, DELETE).action == "delete"


# --- passes -----------------------------------------------------------------


class FakeTarget:
    """Records what a pass asks for; ``fail`` names servers whose action raises."""

    def __init__(self, servers: list[Observed], fail: dict[str, Exception] | None = None) -> None:
        self.servers = servers
        self.fail = fail or {}
        self.calls: list[tuple[str, str]] = []
        self.failures: list[tuple[str, str, str]] = []
        self.due: dict[str, Callable[[datetime], bool]] = {}

    def observe(self) -> list[Observed]:
        return self.servers

    def _do(self, action: str, server: Observed) -> None:
        self.calls.append((action, server.name))
        if server.name in self.fail:
            raise self.fail[server.name]

    def destroy(self, server: Observed, due: Callable[[datetime], bool]) -> Outcome:
        self.due[server.name] = due
        self._do("destroy", server)
        return Outcome("deleted", "expired")

    def stop(self, server: Observed, due: Callable[[datetime], bool]) -> Outcome:
        self.due[server.name] = due
        self._do("stop", server)
        return Outcome("stopped", "expired")

    def warn(self, server: Observed, message: str) -> Outcome:
        self._do("warn", server)
        return Outcome("warned", message)

    def record_failure(self, server: Observed, state: str, reason: str, now: datetime) -> None:
        self.failures.append((server.name, state, reason))


def test_pass_acts_on_candidates_only_and_reports_each() -> None:
    target = FakeTarget([server("old", -5 * M), server("soon", 5 * M), server("fresh", 5 * 60 * M)])
    report = run_pass(target, DELETE, NOW)
    assert target.calls == [("destroy", "old"), ("warn", "soon")]
    assert [(r.name, r.action, r.state) for r in report.results] == [
        ("old", "delete", "deleted"),
        ("soon", "warn", "warned"),
    ]
    assert report.servers == 3
    assert not report.failed


class StoppedMidway(FakeTarget):
    """A stop signal arrives while the first server is in hand."""

    def __init__(self, servers: list[Observed], stopping: threading.Event) -> None:
        super().__init__(servers)
        self.stopping = stopping

    def destroy(self, server: Observed, due: Callable[[datetime], bool]) -> Outcome:
        self.stopping.set()
        return super().destroy(server, due)


def test_a_stop_finishes_the_server_in_hand_and_starts_no_other() -> None:
    stopping = threading.Event()
    target = StoppedMidway([server(f"old{i}", -5 * M) for i in range(3)], stopping)

    report = run_pass(target, DELETE, NOW, stopping=stopping)

    assert target.calls == [("destroy", "old0")]
    assert [(r.name, r.state) for r in report.results] == [("old0", "deleted")]


def test_an_action_a_stop_signal_cut_short_is_interrupted_not_failed() -> None:
    # Ctrl-C reaches the engine too: the destroy in hand fails as cancelled.
    stopping = threading.Event()
    cancelled = ProvisionError("destroy of stack 'alice.old0' failed:")
    target = StoppedMidway([server(f"old{i}", -5 * M) for i in range(2)], stopping)
    target.fail = {"old0": cancelled}

    report = run_pass(target, DELETE, NOW, stopping=stopping)

    assert [(r.name, r.state) for r in report.results] == [("old0", "interrupted")]
    assert report.results[0].reason.startswith("interrupted by a stop signal: destroy of")
    assert target.failures == []  # no backoff: the next pass takes it up at once
    assert not report.failed


class PairedTarget(FakeTarget):
    """Destroys that complete only when ``partners`` of them run at once."""

    def __init__(self, servers: list[Observed], partners: int) -> None:
        super().__init__(servers)
        self.pair = threading.Barrier(partners, timeout=10)
        self.lock = threading.Lock()
        self.running = self.most = 0

    def destroy(self, server: Observed, due: Callable[[datetime], bool]) -> Outcome:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.pair.wait()
        with self.lock:
            self.running -= 1
        return super().destroy(server, due)


def test_destroys_run_in_parallel_up_to_the_limit_in_order() -> None:
    names = ["a", "b", "c", "d"]
    target = PairedTarget([server(n, -5 * M) for n in names], partners=2)
    report = run_pass(target, DELETE, NOW, parallel=2)
    assert target.most == 2
    assert [(r.name, r.state) for r in report.results] == [(n, "deleted") for n in names]


def test_one_at_a_time_when_the_limit_is_one() -> None:
    target = PairedTarget([server(n, -5 * M) for n in "abc"], partners=1)
    report = run_pass(target, DELETE, NOW, parallel=1)
    assert [r.state for r in report.results] == ["deleted"] * 3
    assert target.most == 1


def test_the_recheck_under_the_lock_uses_the_same_clock_and_policy() -> None:
    target = FakeTarget([server("old", -5 * M)])
    run_pass(target, DELETE, NOW)
    due = target.due["old"]
    assert due(NOW - 1 * M)
    assert not due(NOW + 2 * 60 * M)  # extended meanwhile: the extension wins


def test_a_failing_server_does_not_stop_the_pass_and_is_recorded() -> None:
    target = FakeTarget(
        [server("a", -5 * M), server("b", -5 * M), server("c", -5 * M)],
        fail={"a": ProvisionError("destroy of stack 'alice.a' failed: boom"), "b": KeyError("x")},
    )
    report = run_pass(target, DELETE, NOW)
    assert [(r.name, r.state) for r in report.results] == [
        ("a", "destroy-failed"),
        ("b", "destroy-failed"),
        ("c", "deleted"),
    ]
    assert report.results[0].reason == "destroy of stack 'alice.a' failed: boom"
    assert [f[:2] for f in target.failures] == [("a", "destroy-failed"), ("b", "destroy-failed")]
    assert report.failed


def test_policy_stop_stops_then_deletes_after_retention() -> None:
    target = FakeTarget([server("x", -5 * M), server("y", -25 * 60 * M, replicas=0)])
    report = run_pass(target, STOP, NOW)
    assert target.calls == [("stop", "x"), ("destroy", "y")]
    assert [r.state for r in report.results] == ["stopped", "deleted"]


def test_dry_run_changes_nothing_and_gives_reasons() -> None:
    target = FakeTarget([server("old", -5 * M), server("soon", 5 * M)])
    report = run_pass(target, DELETE, NOW, dry_run=True)
    assert target.calls == []
    assert [(r.state, r.reason) for r in report.results] == [
        ("would-delete", "expired at 2026-03-01T11:55:00Z (5m ago)"),
        ("would-warn", report.results[1].reason),
    ]
    assert report.dry_run
    assert "dry run: 2 server(s) seen, 2 would be acted on" in as_text(report)


def test_report_json_is_stable_and_empty_results_are_a_list() -> None:
    empty = run_pass(FakeTarget([]), DELETE, NOW)
    data = as_data(empty)
    assert data["results"] == []
    assert data["started"] == "2026-03-01T12:00:00Z"
    assert set(data) == {"started", "duration_seconds", "dry_run", "policy", "servers", "results"}
    full = as_data(run_pass(FakeTarget([server("old", -5 * M)]), DELETE, NOW))
    assert full["results"][0]["expiry"] == "2026-03-01T11:55:00Z"
    json.dumps(full)
    assert "0 server(s) seen" in as_text(empty)


# --- scheduling and entry points ---------------------------------------------


def test_scheduler_runs_passes_coalesced_one_at_a_time_in_utc() -> None:
    scheduler = build_scheduler(lambda: None, timedelta(seconds=60), NOW)
    (job,) = scheduler.get_jobs()
    assert job.coalesce is True
    assert job.max_instances == 1
    assert job.misfire_grace_time >= 3600
    assert job.trigger.interval == timedelta(seconds=60)
    assert str(job.trigger.timezone) == "UTC"
    assert job.next_run_time == NOW


@pytest.mark.parametrize(
    ("option", "value"),
    [("--interval", "0s"), ("--interval", "soon"), ("--interval", "-1m"), ("-n", "BAD_NS")],
)
def test_bad_option_exits_2_before_the_cluster(option: str, value: str, home: object) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "devservers.reaper", "--once", option, value],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig"},
    )
    assert result.returncode == 2, result.stderr
    assert value in result.stderr
    assert result.stdout == ""


DEVCTL = str(Path(sys.executable).with_name("devctl"))


def test_devctl_reaper_run_passes_the_exit_code_on(home: object) -> None:
    result = subprocess.run(
        [DEVCTL, "reaper", "run", "--once", "--interval", "soon"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert "soon" in result.stderr


def test_devctl_reaper_run_checks_its_output_format(home: object) -> None:
    from clirun import run

    code, out, err = run("reaper", "run", "--once", "-o", "yaml")
    assert code == 2
    assert out == ""
    assert "yaml" in err and "devctl reaper run" in err


# --- observing ----------------------------------------------------------------


def _meta(name: str, stack: str | None = None, **notes: str) -> dict[str, object]:
    labels = {
        "app.kubernetes.io/managed-by": "devservers",
        "devservers.dev/owner": "alice",
        "devservers.dev/server": name,
    }
    if stack is not False:
        labels["devservers.dev/stack"] = stack or f"alice.{name}"
    return {
        "name": name,
        "namespace": "dev-alice",
        "uid": f"uid-{name}",
        "labels": labels,
        "annotations": notes,
    }


class FakeCluster:
    def __init__(self, deployments: list[dict], config_maps: list[dict]) -> None:
        self.lists = {"deployments": deployments, "configmaps": config_maps}
        self.calls: list[tuple[str, str | None]] = []

    def labelled(self, kind: str, selector: str, namespace: str | None) -> list[dict]:
        assert selector == "app.kubernetes.io/managed-by=devservers"
        self.calls.append((kind, namespace))
        return self.lists[kind]


def test_observing_reads_two_lists_and_keeps_servers_whose_deployment_is_gone() -> None:
    from devservers.stacks import Reaping, Settings

    cluster = FakeCluster(
        deployments=[
            {
                "metadata": _meta(
                    "box",
                    **{
                        "devservers.dev/expiry": "2026-03-01T11:00:00Z",
                        "devservers.dev/warned-expiry": "2026-03-01T11:00:00Z",
                        "devservers.dev/reap-failures": "2",
                    },
                ),
                "spec": {"replicas": 0},
            },
            {"metadata": _meta("nolabel", stack=False), "spec": {}},  # not a DevServer object
        ],
        config_maps=[
            {"metadata": _meta("box")},  # the same server: the Deployment wins
            {"metadata": _meta("orphan", **{"devservers.dev/expiry": "2026-03-01T10:00:00Z"})},
        ],
    )
    settings = Settings(user="reaper", backend_url="postgres://db/state")
    reaping = Reaping(settings, cluster=cluster)  # type: ignore[arg-type]
    seen = {o.name: o for o in reaping.observe()}
    assert cluster.calls == [("deployments", None), ("configmaps", None)]
    assert set(seen) == {"box", "orphan"}
    assert seen["box"].replicas == 0
    assert seen["box"].failures == 2
    assert seen["box"].warned_expiry == seen["box"].expiry == datetime(2026, 3, 1, 11, tzinfo=UTC)
    assert seen["box"].uid == "uid-box"
    assert seen["orphan"].replicas is None
    assert seen["orphan"].expiry == datetime(2026, 3, 1, 10, tzinfo=UTC)


def test_the_platform_lets_the_reaper_record_its_warnings() -> None:
    from devservers.components.rbac import reaper_rules

    assert any(
        "events" in rule["resources"] and "create" in rule["verbs"] and rule["apiGroups"] == [""]
        for rule in reaper_rules()
    )


@pytest.mark.parametrize("debug", [False, True])
def test_the_scheduler_logs_each_run_only_with_debug(debug: bool) -> None:
    import logging

    from devservers.stacks.base.logs import configure_logging

    configure_logging(logging.INFO, "%(message)s", debug)
    executor = logging.getLogger("apscheduler.executors.default")
    assert executor.isEnabledFor(logging.INFO) is debug
    assert executor.isEnabledFor(logging.WARNING)
