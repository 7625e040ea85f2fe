"""The idle stop on the real node, with a real two-minute idle timeout.

Four servers start at once with ``--idle-timeout 2m``: ``quiet`` is left
alone, ``held`` has an open ``devctl ssh`` session without a terminal,
``busy`` runs a CPU-bound process started with ``nohup`` and then
disconnected, and ``blind`` (in a namespace of its own) is judged by a reaper
whose GPU metrics endpoint cannot be read. Reaper passes (``--once``) run
after one minute (the warning) and a full warning window (one minute) after
it (the stop); then two ``devctl ssh`` at once start the stopped server again.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client
from test_reaper import reaper_command, states
from test_ssh import ssh_environment

TIMEOUT_SECONDS = 120
WARN_PASS = TIMEOUT_SECONDS / 2 + 10
"""Seconds after the servers are Ready: idle past the warning window (half the timeout)."""
STOP_PASS = WARN_PASS + TIMEOUT_SECONDS / 2 + 10
"""After the stop the warning named: never less than the window after the warning."""
BUSY_LOOP = "nohup timeout 600 sh -c 'while :; do :; done' >/dev/null 2>&1 &"
"""One core busy (bounded), in the background of a session that then ends."""


@dataclass
class Idle:
    env: dict[str, str]
    blind_env: dict[str, str]
    namespace: str
    blind_namespace: str
    ready_at: float
    session: subprocess.Popen[bytes]


def devctl(
    env: dict[str, str], *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["devctl", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def reap(env: dict[str, str], namespace: str) -> dict[str, Any]:
    done = subprocess.run(
        reaper_command(namespace), env=env, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def idle(core: client.CoreV1Api, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Idle]:
    tmp = tmp_path_factory.mktemp("idle")
    namespace, blind_namespace = f"t-{uuid.uuid4().hex[:10]}", f"t-{uuid.uuid4().hex[:10]}"
    for ns in (namespace, blind_namespace):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    (tmp / "a").mkdir()
    (tmp / "b").mkdir()
    env, _ = ssh_environment(tmp / "a", namespace)
    blind_env, _ = ssh_environment(tmp / "b", blind_namespace)
    blind_env["DEVSERVERS_GPU_METRICS_URL"] = "http://127.0.0.1:9/metrics"
    plan = [(env, n) for n in ("quiet", "held", "busy")] + [(blind_env, "blind")]
    session = None
    try:
        creates = [
            subprocess.Popen(
                ["devctl", "-q", "create", name, "--idle-timeout", "2m", "--ttl", "2h"],
                env=e,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                stdin=subprocess.DEVNULL,
                text=True,
            )
            for e, name in plan
        ]
        for proc in creates:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
        ready_at = time.monotonic()
        # A session without a terminal (as VS Code's), open throughout.
        session = subprocess.Popen(
            ["devctl", "ssh", "held", "--", "sleep", "900"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        started = devctl(env, "ssh", "busy", "--", BUSY_LOOP)
        assert started.returncode == 0, started.stderr
        assert started.stderr == "", "ssh hanging up its ProxyCommand is no error"
        yield Idle(env, blind_env, namespace, blind_namespace, ready_at, session)
    finally:
        if session is not None:  # devctl, ssh and its ProxyCommand
            os.killpg(session.pid, signal.SIGTERM)
            session.wait(timeout=30)
        for e, name in plan:
            devctl(e, "delete", name, "--yes")
        for ns in (namespace, blind_namespace):
            core.delete_namespace(ns)


def _wait_until(idle: Idle, seconds: float) -> None:
    time.sleep(max(0.0, idle.ready_at + seconds - time.monotonic()))


def test_one_minute_idle_warns_with_an_event_and_a_notice_in_list(
    idle: Idle, core: client.CoreV1Api
) -> None:
    _wait_until(idle, WARN_PASS)
    seen = states(reap(idle.env, idle.namespace))
    assert seen["quiet"][0] == "warned"
    assert "will be stopped at" in seen["quiet"][1] and "if it stays idle" in seen["quiet"][1]
    assert seen["held"] == ("active", "active: connected")
    assert seen["busy"][0] == "active" and seen["busy"][1].startswith("active: cpu ")
    events = core.list_namespaced_event(idle.namespace, field_selector="involvedObject.name=quiet")
    assert "IdleSoon" in [e.reason for e in events.items]
    listed = devctl(idle.env, "list")
    assert "! quiet: idle: will be stopped at" in listed.stdout, listed.stdout


def test_two_minutes_idle_stops_only_the_unused_server(idle: Idle) -> None:
    _wait_until(idle, STOP_PASS)
    seen = states(reap(idle.env, idle.namespace))
    assert seen["quiet"][0] == "stopped"
    assert re.match(
        r"idle \dm: no connection since start, cpu 0\.\d\d cores < 0\.1$", seen["quiet"][1]
    )
    assert seen["held"][0] == "active", "an open session without a terminal counts"
    assert seen["busy"][0] == "active", "a process left running after disconnecting counts"
    listed = json.loads(devctl(idle.env, "list", "-o", "json").stdout)
    status = {s["name"]: (s["status"], s["active"]) for s in listed}
    assert status == {
        "quiet": ("Stopped", False),
        "held": ("Running", True),
        "busy": ("Running", True),
    }
    described = devctl(idle.env, "describe", "quiet")
    assert "Idle stop:  after 2m idle; stopped (idle " in described.stdout
    held = devctl(idle.env, "describe", "held").stdout
    assert re.search(r"connection: last \S+ \(<1m ago\) by \S+@\S+:\d+", held), held


def test_a_metrics_source_that_cannot_be_read_keeps_the_server_and_says_which(idle: Idle) -> None:
    _wait_until(idle, STOP_PASS)
    seen = states(reap(idle.blind_env, idle.blind_namespace))
    state, reason = seen["blind"]
    assert state == "active"
    assert "gpu: http://127.0.0.1:9/metrics:" in reason and "unread counts as active" in reason
    described = devctl(idle.blind_env, "describe", "blind").stdout
    assert "compute:    last found active" in described and "gpu: http://127.0.0.1:9" in described
    assert json.loads(devctl(idle.blind_env, "list", "-o", "json").stdout)[0]["status"] == "Running"


def test_ssh_refuses_with_no_start_then_starts_the_idle_stopped_server(idle: Idle) -> None:
    refused = devctl(idle.env, "ssh", "quiet", "--no-start", "--", "true")
    assert refused.returncode != 0
    assert "is stopped (idle " in refused.stderr and "no connection since start" in refused.stderr
    assert "devctl start quiet" in refused.stderr
    # Two connections at once (a terminal and an IDE): both get in, one start.
    both = [
        subprocess.Popen(
            ["devctl", "ssh", "quiet", "--", "echo", "back"],
            env=idle.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.communicate(timeout=300), p.returncode) for p in both]
    for (out, err), code in results:
        assert code == 0, err
        assert out.strip() == "back"
    assert any("DevServer quiet is stopped (idle " in err for (_, err), _ in results)
    listed = {s["name"]: s for s in json.loads(devctl(idle.env, "list", "-o", "json").stdout)}
    assert listed["quiet"]["status"] == "Running"
    assert listed["quiet"]["stopped_reason"] is None
