"""Engine lock files and devctl's per-server lock: stale ones cleared, live ones reported."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devservers.stacks import Conflict, load_settings
from devservers.stacks.engine import locks
from devservers.stacks.engine.locks import (
    clear_stale_engine_locks,
    discard_server_lock,
    forget_locks,
    server_lock,
)


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


# --- devctl's own lock files ---------------------------------------------------


def lock_files(settings) -> list[str]:
    root = settings.state_dir / "locks"
    return sorted(str(p.relative_to(root).name) for p in root.rglob("*.lock"))


def test_a_deleted_servers_lock_file_goes_with_it(settings) -> None:
    with server_lock(settings, "alice.kept", "create"):
        discard_server_lock(settings, "alice.box")  # not held here: nothing happens
    with server_lock(settings, "alice.box", "delete"):
        discard_server_lock(settings, "alice.box")
        assert lock_files(settings) == ["alice.box.lock", "alice.kept.lock"]
    assert lock_files(settings) == ["alice.kept.lock"]
    discard_server_lock(settings, "alice.kept")  # outside its lock: kept
    assert lock_files(settings) == ["alice.kept.lock"]


def test_removing_a_lock_file_never_breaks_the_lock_of_a_process_opening_it(
    settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A command opens the file just before a delete removes it, and locks it just after."""
    real = locks.fcntl.flock
    raced: list[bool] = []

    def flock(handle, operation: int) -> None:
        if operation & fcntl.LOCK_NB and not raced:
            raced.append(True)
            with server_lock(settings, "alice.box", "delete"):
                discard_server_lock(settings, "alice.box")
        real(handle, operation)

    monkeypatch.setattr(locks.fcntl, "flock", flock)
    with server_lock(settings, "alice.box", "start"):
        monkeypatch.setattr(locks.fcntl, "flock", real)
        assert raced
        # The next command sees it held.
        with pytest.raises(Conflict, match="start by pid"), server_lock(settings, "alice.box", "c"):
            pass


def test_two_backends_never_share_a_lock_of_the_same_stack(settings, tmp_path: Path) -> None:
    other = settings.model_copy(update={"backend_url": f"file://{tmp_path}/other-state"})
    with server_lock(settings, "alice.box", "create"), server_lock(other, "alice.box", "create"):
        assert lock_files(settings) == ["alice.box.lock", "alice.box.lock"]


def test_forgetting_a_backends_locks_spares_a_live_process(settings, tmp_path: Path) -> None:
    with server_lock(settings, "alice.gone", "create"):
        pass
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path), "alice.box"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline() == "locked\n"
        assert forget_locks(settings) == 1
        assert lock_files(settings) == ["alice.box.lock"]
        with (
            pytest.raises(Conflict, match="repair by pid"),
            server_lock(settings, "alice.box", "d"),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
    assert forget_locks(settings) == 1
    assert lock_files(settings) == []


def test_lock_files_of_earlier_versions_go_when_not_held(settings) -> None:
    flat = settings.state_dir / "locks"
    flat.mkdir(parents=True)
    for stack in ("alice.old", "bob.old"):
        (flat / f"{stack}.lock").touch()
    with server_lock(settings, "alice.box", "create"):
        pass
    assert lock_files(settings) == ["alice.box.lock"]


HOLD = """
import sys, time
from pathlib import Path
from devservers.stacks import load_settings
from devservers.stacks.engine.locks import server_lock
tmp = Path(sys.argv[1])
settings = load_settings(
    tmp / "none.yaml", user="alice", backend_url=f"file://{tmp}/state", state_dir=tmp / "data"
)
with server_lock(settings, sys.argv[2], "repair"):
    print("locked", flush=True)
    time.sleep(600)
"""
