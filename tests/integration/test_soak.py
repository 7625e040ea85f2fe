"""Soak (``pytest -m soak``): Ctrl-C and kill -9 of every command at every step.

Create, delete, extend and the reaper are each interrupted — SIGINT to the
process group as a terminal's Ctrl-C sends it, and SIGKILL to devctl alone —
at each engine event they print, with the state backend on a small
filesystem of its own (a tmpfs). After every round:

- no process of the product is left (its engine and plugins end with it);
- every checkpoint in the backend is readable JSON;
- nothing labelled in the cluster is missing from ``devctl list``;
- the next ordinary command succeeds.

``DEVSERVERS_SOAK_ROUNDS`` sets the rounds (default 1).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_devctl import devctl
from test_faults import (
    CREATE_POINTS,
    DELETE_POINTS,
    Leftovers,
    kill_at,
    kill_create_then_delete,
)
from test_reaper import create_all, wait_past

from devservers.components.labels import SERVER

pytestmark = pytest.mark.soak

BACKEND_BYTES = 32 * 1024 * 1024
"""Size of the backend's filesystem: a few servers' checkpoints, backups and history."""

SIGNALS = (signal.SIGINT, signal.SIGKILL)

EXTEND_POINTS = [
    "delay:0.8",
    r"Updating \(",
    r"Deployment {name} updating",
    r"Deployment {name} updated",
    r"Resources:",
]
"""Where extend is killed."""

REAPER_POINTS = ["delay:1.5", r"Destroying \(", r"deleting", r"deleted", r"Resources:"]
"""Where a reaper pass is killed."""

ROUNDS = int(os.environ.get("DEVSERVERS_SOAK_ROUNDS", "1"))


@pytest.fixture
def small_backend(tmp_path: Path, devctl_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """``devctl_env`` with its file backend on a tmpfs of :data:`BACKEND_BYTES`."""
    state = tmp_path / "small-state"
    state.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", f"size={BACKEND_BYTES}", "tmpfs", str(state)]
    subprocess.run(mount, check=True)
    try:
        yield {**devctl_env, "DEVSERVERS_BACKEND_URL": f"file://{state}"}
    finally:
        for pid in product_processes(devctl_env["XDG_DATA_HOME"]):  # what a failed check found
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        subprocess.run(["umount", "--lazy", str(state)], check=False)


def product_processes(data_home: str) -> dict[int, str]:
    """Process id → command line of live processes with this test's ``XDG_DATA_HOME``."""
    found = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if f"XDG_DATA_HOME={data_home}".encode() not in (proc / "environ").read_bytes():
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            found[int(proc.name)] = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return found


def assert_no_process_left(env: dict[str, str]) -> None:
    """Waits up to 15 s for what the interrupted command started to end, then fails."""
    deadline = time.monotonic() + 15
    while (left := product_processes(env["XDG_DATA_HOME"])) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == {}, f"processes left behind: {left}"


def assert_checkpoints_readable(env: dict[str, str]) -> None:
    root = Path(env["DEVSERVERS_BACKEND_URL"].removeprefix("file://")) / ".pulumi" / "stacks"
    for path in root.rglob("*.json"):
        json.loads(path.read_text())  # raises on a truncated or empty checkpoint


def assert_listed(env: dict[str, str], namespace: str) -> None:
    """Every server with objects of any kind it owns in the cluster is in ``devctl list``."""
    listed = devctl(env, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    names = {s["name"] for s in json.loads(listed.stdout)}
    kinds = subprocess.run(
        ["kubectl", "-n", namespace, "get", "deployments,services,secrets,configmaps,leases",
         "-l", SERVER, "-o", "json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    labelled = {o["metadata"]["labels"][SERVER] for o in json.loads(kinds.stdout)["items"]}
    assert labelled <= names, f"in the cluster, not listed: {labelled - names}"


def check_round(env: dict[str, str], namespace: str) -> None:
    assert_no_process_left(env)
    assert_checkpoints_readable(env)
    assert_listed(env, namespace)


@pytest.mark.parametrize("round_", range(ROUNDS))
@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_create_and_delete_interrupted_at_every_step(
    small_backend: dict[str, str],
    namespace: str,
    leftovers: Leftovers,
    sig: signal.Signals,
    round_: int,
) -> None:
    env = small_backend
    for i, create_at in enumerate(CREATE_POINTS):
        delete_at = DELETE_POINTS[(i + round_) % len(DELETE_POINTS)]
        print(kill_create_then_delete(env, "box", create_at, delete_at, sig, reap=False))
        check_round(env, namespace)
    objects, _ = leftovers()
    assert objects == []


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_extend_interrupted_at_every_step(
    small_backend: dict[str, str], namespace: str, sig: signal.Signals
) -> None:
    env = small_backend
    assert devctl(env, "create", "box", "--no-wait").returncode == 0
    for point in EXTEND_POINTS:
        killed = kill_at(env, ["extend", "box", "--by", "1h"], point.format(name="box"), sig, False)
        print(f"extend {'interrupted' if killed else 'finished'} at {point!r}")
        check_round(env, namespace)
        again = devctl(env, "extend", "box", "--by", "1h")
        assert again.returncode == 0, again.stderr
    assert devctl(env, "delete", "box", "--yes").returncode == 0


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
def test_reaper_interrupted_at_every_step(
    small_backend: dict[str, str],
    namespace: str,
    leftovers: Leftovers,
    sig: signal.Signals,
) -> None:
    env = small_backend
    names = [f"r{i}" for i in range(len(REAPER_POINTS))]
    expiry = create_all(env, *names)
    wait_past(max(expiry.values()))
    reaper = ["reaper", "run", "--once", "--namespace", namespace]
    for point in REAPER_POINTS:
        killed = kill_at(env, reaper, point, sig, reap=False)
        print(f"reaper {'interrupted' if killed else 'finished'} at {point!r}")
        check_round(env, namespace)
    finished = devctl(env, *reaper)
    print(finished.stdout, finished.stderr)
    assert finished.returncode == 0, finished.stderr
    check_round(env, namespace)
    assert leftovers()[0] == []
