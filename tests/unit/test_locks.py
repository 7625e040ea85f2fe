"""Engine lock files and devctl's per-server lock: stale ones cleared, live ones reported."""

from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devservers.stacks import Conflict, load_settings
from devservers.stacks.engine.locks import clear_stale_engine_locks, server_lock


@pytest.fixture
def settings(tmp_path: Path):
    return load_settings(
        tmp_path / "none.yaml",
        user="alice",
        backend_url=f"file://{tmp_path}/state",
        state_dir=tmp_path / "data",
    )


def write_lock(settings, pid: int, host: str | None = None, when: datetime | None = None) -> Path:
    root = Path(settings.backend.removeprefix("file://"))
    path = root / ".pulumi/locks/organization/devservers/alice.box/0f0f.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    stamp = (when or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    path.write_text(
        json.dumps(
            {
                "pid": pid,
                "username": "alice",
                "hostname": host or socket.gethostname(),
                "timestamp": stamp,
            }
        )
    )
    return path


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_lock_of_a_dead_process_is_cleared_and_reported(settings) -> None:
    pid = dead_pid()
    path = write_lock(settings, pid)
    cleared = clear_stale_engine_locks(settings, "devservers", "alice.box", wait_seconds=1)
    assert not path.exists()
    assert len(cleared) == 1 and f"pid {pid}" in cleared[0]


def test_lock_of_a_live_process_is_never_broken(settings) -> None:
    path = write_lock(settings, os.getpid())
    with pytest.raises(Conflict, match=f"pid {os.getpid()} of alice@.* since 20"):
        clear_stale_engine_locks(settings, "devservers", "alice.box", wait_seconds=1)
    assert path.exists()


def test_lock_of_another_host_is_never_broken(settings) -> None:
    path = write_lock(settings, dead_pid(), host="elsewhere.example")
    with pytest.raises(Conflict, match="another host.*elsewhere.example"):
        clear_stale_engine_locks(settings, "devservers", "alice.box", wait_seconds=1)
    assert path.exists()


def test_pid_reused_after_the_lock_was_taken_counts_as_dead(settings) -> None:
    path = write_lock(settings, os.getpid(), when=datetime.now(UTC) - timedelta(days=400))
    assert clear_stale_engine_locks(settings, "devservers", "alice.box", wait_seconds=1)
    assert not path.exists()


def test_second_command_on_the_same_server_is_a_conflict_naming_the_first(settings) -> None:
    with (
        server_lock(settings, "alice.box", "create"),
        pytest.raises(Conflict, match=f"create by pid {os.getpid()}"),
        server_lock(settings, "alice.box", "delete"),
    ):
        pass
    with server_lock(settings, "alice.box", "delete"):
        pass


def test_stacks_whose_every_lock_is_stale_are_found_without_opening_them(settings) -> None:
    from devservers.stacks.engine.locks import stale_locked_stacks

    assert stale_locked_stacks(settings, "devservers") == []
    write_lock(settings, dead_pid())
    assert stale_locked_stacks(settings, "devservers") == ["alice.box"]
    held = write_lock(settings, os.getpid())
    held.rename(held.with_name("live.json"))  # a second lock, held by a live process
    write_lock(settings, dead_pid())
    assert stale_locked_stacks(settings, "devservers") == [], "a live lock keeps the stack"


def test_stale_stacks_are_a_file_backend_matter(settings, tmp_path: Path) -> None:
    from devservers.stacks.engine.locks import stale_locked_stacks

    remote = load_settings(tmp_path / "none.yaml", user="alice", backend_url="postgres://db/x")
    assert stale_locked_stacks(remote, "devservers") == []
