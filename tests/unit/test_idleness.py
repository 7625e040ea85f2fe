"""The idle stop without a cluster: the rule, the reaper's decisions, the signal readers."""

from __future__ import annotations

import http.server
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from devservers.components import labels as lbl
from devservers.components.idleness import (
    Signals,
    Thresholds,
    idle_stop_reason,
    judge,
)
from devservers.reaper.decisions import Decision, Rules, decide
from devservers.reaper.passes import run_pass
from devservers.stacks import Observed, Outcome
from devservers.stacks.base.errors import Forbidden, NotFound
from devservers.stacks.kube.activity import (
    COMPUTE_MANAGER,
    CONNECTION_MANAGER,
    activity_of,
)
from devservers.stacks.kube.usage import Unread, cpu_cores, gpu_percent
from devservers.stacks.reaping.observations import observed_from

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
M = timedelta(minutes=1)
RULES = Rules(idle_warning=10 * M)


def signals(**fields: Any) -> Signals:
    """A running server started an hour ago, never connected, CPU at rest."""
    return replace(Signals(now=NOW, started_at=NOW - 60 * M, cpu_cores=0.01), **fields)


def server(timeout: timedelta | None = 30 * M, **fields: Any) -> Observed:
    base = Observed(
        stack="alice.box",
        user="alice",
        name="box",
        namespace="dev-alice",
        expiry=NOW + 8 * 60 * M,
        replicas=1,
        uid="uid",
        idle_timeout=timeout,
        signals=signals(),
    )
    return replace(base, **fields)


# --- the rule ---------------------------------------------------------------


def test_an_unused_server_is_idle_since_its_pod_started_and_says_why() -> None:
    verdict = judge(signals(), Thresholds())
    assert not verdict.active
    assert verdict.since == NOW - 60 * M
    assert verdict.reason == "idle 1h: no connection since start, cpu 0.01 cores < 0.1"


def test_the_latest_of_start_connection_and_busy_record_counts() -> None:
    seen = signals(connected_at=NOW - 20 * M, busy_at=NOW - 5 * M)
    verdict = judge(seen, Thresholds())
    assert verdict.since == NOW - 5 * M
    assert "no connection since 2026-03-01T11:40:00Z" in verdict.reason


@pytest.mark.parametrize(
    ("seen", "reason", "busy"),
    [
        (signals(connected=True, connected_at=NOW), "active: connected", None),
        (signals(cpu_cores=0.85), "active: cpu 0.85 cores >= 0.1", "cpu 0.85 cores"),
        (signals(gpu_percent=37.0), "active: gpu 37 % >= 10", "gpu 37 %"),
    ],
)
def test_any_signal_keeps_it_active(seen: Signals, reason: str, busy: str | None) -> None:
    verdict = judge(seen, Thresholds())
    assert (verdict.active, verdict.since, verdict.reason, verdict.busy) == (
        True,
        None,
        reason,
        busy,
    )


@pytest.mark.parametrize(
    "seen",
    [
        signals(cpu_cores="cpu: node real-0: forbidden"),
        signals(gpu_percent="gpu: http://dcgm:9400/metrics: connection refused"),
        signals(lease_missing="connection: no activity Lease"),
    ],
)
def test_a_signal_that_cannot_be_read_counts_as_active_and_is_named(seen: Signals) -> None:
    verdict = judge(seen, Thresholds())
    assert verdict.active
    assert "(unread counts as active)" in verdict.reason
    missing = next(
        v for v in (seen.cpu_cores, seen.gpu_percent, seen.lease_missing) if isinstance(v, str)
    )
    assert missing in verdict.reason


def test_gpu_is_counted_only_when_a_source_is_configured() -> None:
    assert "gpu" not in judge(signals(gpu_percent=None), Thresholds()).reason
    assert "gpu 3 % < 10" in judge(signals(gpu_percent=3.0), Thresholds()).reason


def test_the_idle_stop_reason_holds_only_while_the_server_is_stopped() -> None:
    notes = {"devservers.dev/idle-stopped": "idle 31m: no connection"}
    assert idle_stop_reason(notes, 0) == "idle 31m: no connection"
    assert idle_stop_reason(notes, 1) is None
    assert idle_stop_reason({}, 0) is None


# --- the reaper's decisions -----------------------------------------------


def decide_at(observed: Observed, at: datetime) -> Decision:
    """The decision of a pass at ``at`` (the API server's clock too)."""
    return decide(replace(observed, signals=replace(observed.signals, now=at)), at, RULES)


def warned(observed: Observed, at: datetime) -> Observed:
    """``observed`` after the warning a pass at ``at`` gave it (its annotations)."""
    decided = decide_at(observed, at)
    assert decided.action == "idle-warn", decided
    return replace(observed, warned_idle=decided.since, idle_stop_at=decided.stop_at)


def test_idle_for_its_timeout_and_warned_is_stopped_with_the_deciding_signals() -> None:
    observed = warned(server(), NOW - 10 * M)
    decided = decide(observed, NOW, RULES)
    assert decided.action == "idle-stop"
    assert decided.since == NOW - 60 * M
    assert decided.reason.startswith("idle 1h: no connection since start")


def test_no_stop_without_a_warning_the_full_window_before() -> None:
    # A first pass after an outage (or a recreated Lease) finds it long idle: warn, not stop.
    late = server()
    decided = decide(late, NOW, RULES)
    assert decided.action == "idle-warn"
    assert decided.stop_at == NOW + 10 * M
    assert "will be stopped at 2026-03-01T12:10:00Z (in 10m)" in decided.reason
    observed = warned(late, NOW)
    assert decide_at(observed, NOW + 9 * M).action == "idle"
    assert decide_at(observed, NOW + 10 * M).action == "idle-stop"


def test_within_the_warning_window_it_is_warned_once_per_idle_period() -> None:
    nearly = server(signals=signals(started_at=NOW - 20 * M))
    decided = decide(nearly, NOW, RULES)
    assert decided.action == "idle-warn"
    assert "will be stopped at 2026-03-01T12:10:00Z (in 10m) if it stays idle" in decided.reason
    again = decide_at(warned(nearly, NOW), NOW + M)
    assert again.action == "idle"
    assert "stops at 2026-03-01T12:10:00Z" in again.reason
    # A new idle period (after a connection) gets its own warning.
    later = replace(warned(nearly, NOW), warned_idle=NOW - 40 * M)
    assert decide(later, NOW, RULES).action == "idle-warn"


def test_a_short_timeout_warns_at_half_of_it() -> None:
    short = server(timeout=2 * M, signals=signals(started_at=NOW - 61 * timedelta(seconds=1)))
    assert decide(short, NOW, RULES).action == "idle-warn"
    assert (
        decide(
            replace(short, signals=signals(started_at=NOW - 50 * timedelta(seconds=1))), NOW, RULES
        ).action
        == "idle"
    )


def test_an_unreadable_idle_timeout_keeps_it_running_and_says_so() -> None:
    meta = {
        "namespace": "dev-alice",
        "labels": {lbl.STACK: "alice.box", lbl.OWNER: "alice", lbl.SERVER: "box"},
        "annotations": {lbl.EXPIRY: "2026-03-01T20:00:00Z", lbl.IDLE_TIMEOUT: "soon"},
    }
    observed = replace(observed_from(meta, 1), signals=signals())
    decided = decide(observed, NOW, RULES)
    assert decided.action == "active"
    assert "devservers.dev/idle-timeout='soon' is not a duration" in decided.reason


@pytest.mark.parametrize(
    ("observed", "action"),
    [
        (server(timeout=None), "none"),  # no idle stop
        (server(replicas=0), "none"),  # stopped already
        (server(signals=signals(started_at=None)), "active"),  # no running pod
        (server(signals=signals(cpu_cores=2.0)), "active"),
        (server(expiry=NOW - M), "delete"),  # the expiry comes first
        (server(expiry=NOW + 10 * M), "warn"),  # so does its warning
    ],
)
def test_expiry_first_then_the_idle_stop_only_for_running_servers(
    observed: Observed, action: str
) -> None:
    assert decide(observed, NOW, RULES).action == action


def test_a_failed_idle_stop_backs_off() -> None:
    failed = replace(
        warned(server(), NOW - 10 * M),
        failures=1,
        failed_at=NOW - timedelta(seconds=30),
        last_error="stop-failed: x",
    )
    assert decide(failed, NOW, RULES).action == "skip"
    assert decide(failed, NOW + M, RULES).action == "idle-stop"


class _Target:
    """Records what a pass asked for."""

    def __init__(self, observed: list[Observed]) -> None:
        self.observed, self.calls = observed, []

    def observe(self) -> list[Observed]:
        return self.observed

    def idle_stop(self, server: Observed, since: datetime, reason: str) -> Outcome:
        self.calls.append(("idle_stop", server.name, since))
        return Outcome("stopped", reason)

    def warn_idle(
        self, server: Observed, since: datetime, stop_at: datetime, message: str
    ) -> Outcome:
        self.calls.append(("warn_idle", server.name, since))
        return Outcome("warned", message)

    def record_busy(self, server: Observed, busy: str) -> Outcome:
        self.calls.append(("record_busy", server.name, busy))
        return Outcome("active", busy)

    def record_failure(self, *args: Any) -> None:
        self.calls.append(("record_failure",))


def test_a_pass_reports_every_watched_server_and_records_compute_activity_only() -> None:
    observed = [
        replace(warned(server(), NOW - 10 * M), name="idle", stack="alice.idle"),
        replace(server(), name="late", stack="alice.late"),
        replace(server(signals=signals(cpu_cores=0.9)), name="busy", stack="alice.busy"),
        replace(
            server(signals=signals(connected=True, connected_at=NOW)), name="ssh", stack="alice.ssh"
        ),
        replace(server(timeout=None), name="plain", stack="alice.plain"),
    ]
    target = _Target(observed)
    report = run_pass(target, RULES, NOW)  # type: ignore[arg-type]
    states = {r.name: (r.state, r.reason) for r in report.results}
    assert states["idle"][0] == "stopped"
    assert states["late"][0] == "warned"
    assert states["busy"] == ("active", "active: cpu 0.90 cores >= 0.1")
    assert states["ssh"] == ("active", "active: connected")
    assert "plain" not in states
    assert ("record_busy", "busy", "cpu 0.90 cores") in target.calls
    assert not any(c[0] == "record_busy" and c[1] == "ssh" for c in target.calls)
    assert not report.failed


def test_a_dry_run_changes_nothing() -> None:
    target = _Target(
        [
            warned(server(), NOW - 10 * M),
            replace(server(signals=signals(cpu_cores=0.9)), name="b", stack="alice.b"),
        ]
    )
    report = run_pass(target, RULES, NOW, dry_run=True)  # type: ignore[arg-type]
    assert sorted(r.state for r in report.results) == ["active", "would-idle-stop"]
    assert target.calls == []


# --- the signal readers -----------------------------------------------------


def test_activity_is_read_from_the_api_servers_managed_fields_time_not_the_writers_clock() -> None:
    lease = {
        "metadata": {
            "annotations": {"devservers.dev/busy": "cpu 0.85 cores at 2026-03-01T11:58:00Z"},
            "managedFields": [
                {"manager": "pulumi-kubernetes", "time": "2026-03-01T10:00:00Z"},
                {"manager": CONNECTION_MANAGER, "time": "2026-03-01T11:50:00Z"},
                {"manager": COMPUTE_MANAGER, "time": "2026-03-01T11:58:02Z"},
            ],
        },
        # A client with a clock a day ahead wrote this: it is not believed.
        "spec": {"holderIdentity": "alice@laptop:42", "renewTime": "2026-03-02T11:50:00.000000Z"},
    }
    found = activity_of(lease)
    assert found.connected_at == datetime(2026, 3, 1, 11, 50, tzinfo=UTC)
    assert found.busy_at == datetime(2026, 3, 1, 11, 58, 2, tzinfo=UTC)
    assert (found.busy, found.holder) == ("cpu 0.85 cores", "alice@laptop:42")
    assert found.connected(NOW - 59 * M) and not found.connected(NOW)
    assert activity_of({}).connected_at is None


class _Nodes:
    """get_json of the node proxy: real-0 answers a Summary, kwok-0 is refused."""

    def __init__(self) -> None:
        self.paths: list[str] = []

    def get_json(self, path: str, query: dict[str, str] | None = None) -> tuple[Any, datetime]:
        self.paths.append(path)
        if "kwok-0" in path:
            raise Forbidden("get nodes/proxy: forbidden to these credentials (403 Forbidden)")
        pods = [
            {
                "podRef": {"namespace": "dev-alice", "name": "box-1"},
                "cpu": {"usageNanoCores": 850_000_000},
            },
            {"podRef": {"namespace": "dev-bob", "name": "new-1"}, "cpu": {}},
        ]
        return {"pods": pods}, NOW


def test_cpu_is_read_once_per_node_and_a_refused_node_is_unread_with_the_reason() -> None:
    nodes = _Nodes()
    found = cpu_cores(nodes, ["real-0", "kwok-0", "real-0"])  # type: ignore[arg-type]
    assert nodes.paths == [
        "/api/v1/nodes/kwok-0/proxy/stats/summary",
        "/api/v1/nodes/real-0/proxy/stats/summary",
    ]
    assert found["real-0"] == {("dev-alice", "box-1"): 0.85}
    assert isinstance(found["kwok-0"], Unread)
    assert "cpu: node kwok-0: get nodes/proxy: forbidden" in found["kwok-0"].reason


DCGM = """\
# HELP DCGM_FI_DEV_GPU_UTIL GPU utilization (in %).
# TYPE DCGM_FI_DEV_GPU_UTIL gauge
DCGM_FI_DEV_GPU_UTIL{gpu="0",UUID="GPU-a",namespace="dev-alice",pod="box-1",container="dev"} 12
DCGM_FI_DEV_GPU_UTIL{gpu="1",UUID="GPU-b",namespace="dev-alice",pod="box-1",container="dev"} 64
DCGM_FI_DEV_GPU_UTIL{gpu="2",UUID="GPU-c"} 99
# TYPE DCGM_FI_DEV_FB_USED gauge
DCGM_FI_DEV_FB_USED{gpu="0",namespace="dev-alice",pod="box-1"} 1024
"""


@pytest.fixture
def exporter():
    """A local HTTP endpoint serving dcgm-exporter's text format."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = DCGM.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    server.shutdown()
    server.server_close()


def test_gpu_utilisation_is_the_busiest_gpu_of_each_pod(exporter: str) -> None:
    assert gpu_percent(exporter) == {("dev-alice", "box-1"): 64.0}


def test_an_unreachable_gpu_endpoint_is_unread_not_zero() -> None:
    found = gpu_percent("http://127.0.0.1:9/metrics")
    assert isinstance(found, Unread)
    assert found.reason.startswith("gpu: http://127.0.0.1:9/metrics:")


# --- the tunnel's heartbeat -------------------------------------------------


@pytest.fixture
def heartbeat(monkeypatch, tmp_path):
    """``_heartbeat`` of a tunnel, renewing every 20 ms; yields the renewals seen."""
    from devservers.stacks import Settings, sessions

    renewals: list[str] = []
    monkeypatch.setattr(sessions, "HEARTBEAT_SECONDS", 0.02)
    monkeypatch.setattr(sessions, "connect", lambda settings: object())
    monkeypatch.delenv("DEVSERVERS_SSH_TARGET", raising=False)
    settings = Settings(user="alice", state_dir=tmp_path, config_dir=tmp_path)
    return lambda notify: sessions._heartbeat(settings, "box", notify), renewals, monkeypatch


def test_an_open_tunnel_renews_as_its_user_until_it_closes(heartbeat) -> None:
    from devservers.stacks import sessions

    beat, renewals, monkeypatch = heartbeat
    monkeypatch.setattr(
        sessions, "renew_connection", lambda c, ns, name, user: renewals.append(f"{user}/{name}")
    )
    notes: list[str] = []
    with beat(notes.append):
        threading.Event().wait(0.2)
    threading.Event().wait(0.05)  # one renewal may be under way as it closes
    seen = len(renewals)
    assert seen >= 4 and set(renewals) == {"alice/box"}
    threading.Event().wait(0.1)
    assert len(renewals) == seen, "no renewal after the tunnel closed"
    assert notes == []


def test_a_refused_renewal_warns_once_and_never_ends_the_session(heartbeat) -> None:
    from devservers.stacks import sessions

    beat, renewals, monkeypatch = heartbeat

    def refused(cluster: object, namespace: str, name: str, user: str) -> None:
        renewals.append(name)
        raise Forbidden("renew lease dev-alice/box: forbidden to these credentials (403)")

    monkeypatch.setattr(sessions, "renew_connection", refused)
    notes: list[str] = []
    with beat(notes.append):
        threading.Event().wait(0.2)
    assert len(renewals) >= 3  # it kept trying
    assert len(notes) == 1
    assert notes[0].startswith("warning: renew lease dev-alice/box: forbidden")
    assert "the idle stop may count box as idle" in notes[0]


def test_a_missing_lease_warns_that_the_server_is_kept_and_how_to_restore_it(heartbeat) -> None:
    from devservers.stacks import sessions

    beat, renewals, monkeypatch = heartbeat

    def missing(cluster: object, namespace: str, name: str, user: str) -> None:
        raise NotFound("lease dev-alice/box not found")

    monkeypatch.setattr(sessions, "renew_connection", missing)
    notes: list[str] = []
    with beat(notes.append):
        threading.Event().wait(0.1)
    assert notes == [
        "warning: lease dev-alice/box not found; "
        "the idle stop keeps box running until 'devctl repair box' restores it"
    ]


class _SignalCluster:
    """One running pod on real-0, its Lease renewed by a tunnel; the node's Summary."""

    def labelled(self, kind: str, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        assert kind == "pods"
        meta = {
            "name": "box-1",
            "namespace": "dev-alice",
            "labels": {"devservers.dev/stack": "alice.box"},
            "creationTimestamp": "2026-03-01T10:59:00Z",
        }
        return [{"metadata": meta, "spec": {"nodeName": "real-0"}, "status": {"phase": "Running"}}]

    def get_json(self, path: str, query: dict[str, str] | None = None) -> tuple[Any, datetime]:
        if path.endswith("/leases"):
            lease = {
                "metadata": {
                    "namespace": "dev-alice",
                    "labels": {"devservers.dev/stack": "alice.box"},
                    "managedFields": [
                        {"manager": CONNECTION_MANAGER, "time": "2026-03-01T11:59:30Z"}
                    ],
                }
            }
            return {"items": [lease]}, NOW
        assert path == "/api/v1/nodes/real-0/proxy/stats/summary"
        pod = {
            "podRef": {"namespace": "dev-alice", "name": "box-1"},
            "cpu": {"usageNanoCores": 4e7},
        }
        return {"pods": [pod]}, NOW


def test_a_pass_reads_each_watched_servers_signals_in_the_api_servers_clock(tmp_path) -> None:
    from devservers.stacks import Settings
    from devservers.stacks.reaping.signals import read_signals

    settings = Settings(user="reaper", state_dir=tmp_path, config_dir=tmp_path)
    watched = server(available_since=NOW - 61 * M)
    found = read_signals(_SignalCluster(), settings, [watched, server(timeout=None)], None)  # type: ignore[arg-type]
    assert found == {
        "alice.box": Signals(
            now=NOW,
            started_at=NOW - 61 * M,
            connected_at=NOW - timedelta(seconds=30),
            connected=True,
            cpu_cores=0.04,
        )
    }
