"""The reaper on the real engine and cluster, with real one-minute TTLs.

Every reaper here is scoped to its test's namespace (``--namespace``) and
uses the test's private backend, so it never touches anyone else's servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from test_devctl import devctl, stacks_in

from devservers.components.durations import parse_instant

SELECTOR = "app.kubernetes.io/managed-by=devservers"


def reaper_command(namespace: str, *args: str, cli: bool = False) -> list[str]:
    head = ["devctl", "reaper", "run"] if cli else [sys.executable, "-m", "devservers.reaper"]
    return [*head, "--once", "-o", "json", "--namespace", namespace, *args]


def reap(env: dict[str, str], namespace: str, *args: str, cli: bool = False) -> dict[str, Any]:
    """One reaper pass; fails the test unless it exits 0. Returns its JSON report."""
    done = subprocess.run(
        reaper_command(namespace, *args, cli=cli),
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def states(report: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {r["name"]: (r["state"], r["reason"]) for r in report["results"]}


def create_all(env: dict[str, str], *names: str, ttl: str = "1m") -> dict[str, datetime]:
    """Creates servers in parallel (no waiting for Ready); returns each one's expiry."""
    procs = {
        name: subprocess.Popen(
            ["devctl", "-q", "create", name, "--ttl", ttl, "--no-wait", "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    expiries = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        expiries[name] = parse_instant(json.loads(out)["server"]["expiry"])
    return expiries


def wait_past(instant: datetime) -> None:
    left = (instant - datetime.now(UTC)).total_seconds()
    if left > 0:
        time.sleep(left + 1)


def deployments(apps: client.AppsV1Api, namespace: str) -> list[str]:
    items = apps.list_namespaced_deployment(namespace, label_selector=SELECTOR).items
    return sorted(d.metadata.name for d in items)


def objects_left(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> list[str]:
    kinds = [
        apps.list_namespaced_deployment,
        core.list_namespaced_service,
        core.list_namespaced_config_map,
        core.list_namespaced_secret,
    ]
    return [
        o.metadata.name for list_ in kinds for o in list_(namespace, label_selector=SELECTOR).items
    ]


def clean_up(env: dict[str, str], apps: client.AppsV1Api, namespace: str) -> None:
    for name in deployments(apps, namespace):
        devctl(env, "delete", name, "--yes")


def test_one_minute_server_is_reaped_after_expiry_and_not_before(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    expiry = create_all(devctl_env, "short", "kept")
    ssh_config = Path(devctl_env["XDG_DATA_HOME"]) / "devservers" / "ssh" / "config"
    try:
        assert devctl(devctl_env, "ssh-config", "--no-install").returncode == 0
        before = reap(devctl_env, namespace)
        assert datetime.now(UTC) < expiry["short"], "the first pass must run before expiry"
        assert states(before)["short"][0] == "warned"
        assert deployments(apps, namespace) == ["kept", "short"]
        events = core.list_namespaced_event(
            namespace, field_selector="involvedObject.name=short,reason=ExpiringSoon"
        ).items
        assert len(events) == 1
        assert "devctl extend short" in events[0].message
        again = reap(devctl_env, namespace)
        assert "short" not in states(again), "each expiry is warned once"

        extended = devctl(devctl_env, "extend", "kept", "--by", "1h")
        assert extended.returncode == 0, extended.stderr
        wait_past(max(expiry.values()))

        dry = reap(devctl_env, namespace, "--dry-run")
        assert states(dry) == {"short": ("would-delete", states(dry)["short"][1])}
        assert states(dry)["short"][1].startswith(f"expired at {dry['results'][0]['expiry']}")
        assert deployments(apps, namespace) == ["kept", "short"]
        assert len(stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"])) == 2

        after = reap(devctl_env, namespace, cli=True)
        assert states(after) == {"short": ("deleted", states(after)["short"][1])}
        assert deployments(apps, namespace) == ["kept"]
        assert [p.stem for p in stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"])] == ["alice.kept"]
        hosts = re.findall(r"^Host \S+ (\S+)$", ssh_config.read_text(), re.MULTILINE)
        assert hosts == ["devserver-kept"], "the reaper forgets what it deleted, as delete does"
        locks = Path(devctl_env["XDG_DATA_HOME"]) / "devservers" / "locks"
        assert [p.name for p in locks.glob("*/*.lock")] == ["alice.kept.lock"], "and its lock"
    finally:
        clean_up(devctl_env, apps, namespace)


def test_two_reapers_at_once_destroy_each_expired_server_exactly_once(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    expiry = create_all(devctl_env, "one", "two", "three")
    try:
        # A Deployment deleted by hand: the server is still found and reaped.
        apps.delete_namespaced_deployment("two", namespace)
        wait_past(max(expiry.values()))
        procs = [
            subprocess.Popen(
                reaper_command(namespace),
                env=devctl_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        reports = []
        for proc in procs:
            out, err = proc.communicate(timeout=600)
            assert proc.returncode == 0, err
            assert "Traceback" not in err
            reports.append(json.loads(out))
        results = [r for report in reports for r in report["results"]]
        deleted = Counter(r["name"] for r in results if r["state"] == "deleted")
        assert deleted == {"one": 1, "two": 1, "three": 1}, results
        assert {r["state"] for r in results} <= {"deleted", "skipped"}, results
        assert objects_left(core, apps, namespace) == []
        assert stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"]) == []
    finally:
        clean_up(devctl_env, apps, namespace)


def test_a_failing_destroy_is_reported_shown_and_retried_after_a_backoff(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api
) -> None:
    # A stack whose secrets the reaper cannot decrypt (made with another passphrase).
    expiry = create_all({**devctl_env, "PULUMI_CONFIG_PASSPHRASE": "another"}, "broken")
    expiry |= create_all(devctl_env, "fine")
    wait_past(max(expiry.values()))

    failed = subprocess.run(
        reaper_command(namespace), env=devctl_env, capture_output=True, text=True, check=False
    )
    assert failed.returncode == 1, failed.stderr
    by_name = states(json.loads(failed.stdout))
    assert by_name["broken"][0] == "destroy-failed"
    assert by_name["fine"][0] == "deleted", "one failing server does not stop the pass"
    assert deployments(apps, namespace) == ["broken"]
    notes = apps.read_namespaced_deployment("broken", namespace).metadata.annotations
    assert notes["devservers.dev/reap-failures"] == "1"
    listed = json.loads(devctl(devctl_env, "list", "-o", "json").stdout)
    assert listed[0]["notice"].startswith("destroy-failed: ")

    later = states(reap(devctl_env, namespace))
    assert later["broken"][0] == "skipped"
    assert "1 failed attempt(s), next after" in later["broken"][1]


def test_an_extend_landing_between_the_reapers_read_and_its_lock_wins(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api, tmp_path: Path
) -> None:
    from devservers.stacks import Reaping, Settings

    created = devctl(devctl_env, "create", "box", "--ttl", "1h", "--no-wait", "-o", "json")
    assert created.returncode == 0, created.stderr
    expiry = parse_instant(json.loads(created.stdout)["server"]["expiry"])
    settings = Settings(
        user="alice",
        backend_url=devctl_env["DEVSERVERS_BACKEND_URL"],
        config_dir=tmp_path / "config" / "devctl",
    )
    reaping = Reaping(settings, namespace=namespace)
    (server,) = reaping.observe()
    extended: list[subprocess.CompletedProcess[str]] = []

    def due(candidate: datetime) -> bool:
        # Called on the reaper's first read, then again under the stack's lock.
        # The extend runs in between: exactly the race the lock must settle.
        if not extended:
            extended.append(devctl(devctl_env, "extend", "box", "--by", "1h"))
        return candidate <= expiry

    try:
        outcome = reaping.destroy(server, due)
        assert extended[0].returncode == 0, extended[0].stderr
        assert outcome.state == "skipped"
        assert outcome.reason.startswith("extended meanwhile")
        assert deployments(apps, namespace) == ["box"]
    finally:
        clean_up(devctl_env, apps, namespace)


def test_policy_stop_stops_at_expiry_and_start_needs_an_extension(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api
) -> None:
    env = {**devctl_env, "DEVSERVERS_EXPIRY_POLICY": "stop", "DEVSERVERS_STOP_RETENTION": "1h"}
    created = devctl(env, "create", "box", "--ttl", "1m", "-o", "json")
    assert created.returncode == 0, created.stderr
    keys = json.loads(created.stdout)["host_public_keys"]
    try:
        wait_past(parse_instant(json.loads(created.stdout)["server"]["expiry"]))
        assert states(reap(env, namespace))["box"][0] == "stopped"
        assert apps.read_namespaced_deployment("box", namespace).spec.replicas == 0
        listed = json.loads(devctl(env, "list", "-o", "json").stdout)
        assert [(s["status"], s["notice"].split(";")[0]) for s in listed] == [
            ("Stopped", "stopped at expiry")
        ]
        described = devctl(env, "describe", "box")
        assert "Notice:     stopped at expiry; deleted at " in described.stdout
        assert "box" not in states(reap(env, namespace)), "kept for the retention period"

        refused = devctl(env, "start", "box")
        assert refused.returncode == 2
        assert "expired at" in refused.stderr
        assert devctl(env, "extend", "box", "--by", "1h").returncode == 0
        started = devctl(env, "start", "box", "-o", "json")
        assert started.returncode == 0, started.stderr
        details = json.loads(started.stdout)
        assert details["server"]["status"] == "Running"
        assert details["host_public_keys"] == keys
    finally:
        clean_up(env, apps, namespace)


def test_reaper_killed_mid_destroy_leaves_a_state_the_next_pass_completes(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    expiry = create_all(devctl_env, "box")
    backend = Path(devctl_env["DEVSERVERS_BACKEND_URL"].removeprefix("file://"))
    hold = {"metadata": {"finalizers": ["test.devservers.dev/hold"]}}
    apps.patch_namespaced_deployment("box", namespace, hold)
    try:
        wait_past(expiry["box"])
        first = subprocess.Popen(
            reaper_command(namespace),
            env=devctl_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait_for(
            lambda: apps.read_namespaced_deployment("box", namespace).metadata.deletion_timestamp
        )
        os.killpg(first.pid, signal.SIGKILL)  # the whole pod, as a node failure would
        first.wait()
        assert list(backend.glob(".pulumi/locks/*/devservers/alice.box/*.json")), "a stale lock"
        apps.patch_namespaced_deployment("box", namespace, {"metadata": {"finalizers": None}})

        second = reap(devctl_env, namespace)
        assert states(second)["box"][0] == "deleted", second
        assert objects_left(core, apps, namespace) == []
        assert stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"]) == []
    finally:
        with contextlib.suppress(client.ApiException):
            apps.patch_namespaced_deployment("box", namespace, {"metadata": {"finalizers": None}})
        clean_up(devctl_env, apps, namespace)


def _wait_for(condition: Any, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    pytest.fail("condition not reached in time")
