"""A full disk under the state backend: a failed write never loses a stack's state.

The test's file backend is a small tmpfs of its own (mounted here; the tests
run as root). Filling it while a create runs makes the engine's next write of
the checkpoint fail with "no space left on device", as on a full disk.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from test_devctl import devctl
from test_outage import settled
from test_reaper import reap, states

DISK_SIZE = "16m"
"""Size of the backend's tmpfs: room for a few checkpoints, filled in a moment."""


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The test's file backend (and passphrase) on a small disk of its own."""
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "integration-test")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", disk], check=True)
    try:
        yield f"file://{disk}"
    finally:
        subprocess.run(["umount", disk], check=True)


def fill(disk: Path) -> Path:
    """Writes a file until the disk has no space left; returns it (remove it to free the disk)."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 65536)
        except OSError as exc:
            assert "No space left on device" in str(exc)
    return filler


def test_a_full_disk_during_create_leaves_a_readable_checkpoint_and_delete_removes_everything(
    devctl_env: dict[str, str],
    backend: str,
    leftovers: Callable[[], tuple[list[str], list[str]]],
) -> None:
    disk = Path(backend.removeprefix("file://"))
    with subprocess.Popen(
        ["devctl", "create", "box", "--no-wait"],
        env=devctl_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as create:
        assert create.stderr is not None
        seen = []
        for line in create.stderr:
            seen.append(line)
            if "secret/box-host-keys created" in line:
                filler = fill(disk)  # the engine has made an object: its state must not be lost
                break
        else:
            pytest.fail(f"create ended before it made an object: {''.join(seen)}")
        seen.extend(create.stderr)
        code = create.wait(timeout=300)
    stderr = "".join(seen)
    print(stderr)
    assert code == 5, stderr
    assert "no space left on device" in stderr
    checkpoint = disk / ".pulumi" / "stacks" / "devservers" / "alice.box.json"
    assert json.loads(checkpoint.read_text(encoding="utf-8"))["checkpoint"]  # readable

    still_full = devctl(devctl_env, "delete", "box", "--yes")
    assert still_full.returncode == 5, still_full.stderr
    assert "no space left on device" in still_full.stderr
    filler.unlink()

    listed = devctl(devctl_env, "list", "-o", "json")
    print(listed.stdout)
    deleted = devctl(devctl_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert leftovers() == ([], [])
    assert sorted(p.name for p in disk.rglob("*") if p.is_file() and "alice.box" in str(p)) == []


def test_objects_of_a_stack_whose_state_is_lost_are_removed_by_a_plain_delete(
    devctl_env: dict[str, str],
    backend: str,
    leftovers: Callable[[], tuple[list[str], list[str]]],
) -> None:
    created = devctl(devctl_env, "create", "box", "--no-wait")
    assert created.returncode == 0, created.stderr
    state = Path(backend.removeprefix("file://")) / ".pulumi"
    for path in [*state.glob("stacks/devservers/alice.box.json*"), *state.rglob("history/**/*")]:
        if path.is_file():
            path.unlink()  # the checkpoint cut short, with no readable backup left
    (state / "stacks" / "devservers" / "alice.box.json").write_text('{"version": 3, "check')
    # As a create that failed before its Deployment leaves it: no Deployment either.
    subprocess.run(
        ["kubectl", "-n", devctl_env["DEVSERVERS_NAMESPACE"], "delete", "deployment", "box"],
        env=devctl_env,
        check=True,
        capture_output=True,
    )

    listed = devctl(devctl_env, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    [row] = [s for s in json.loads(listed.stdout) if s["name"] == "box"]
    assert row["status"] == "Incomplete"
    assert "'devctl delete box' removes them" in row["notice"]
    report = reap(devctl_env, devctl_env["DEVSERVERS_NAMESPACE"])
    assert states(report)["box"][0] == "incomplete"
    assert "'devctl delete box' as alice removes them" in states(report)["box"][1]

    deleted = devctl(devctl_env, "delete", "box", "--yes")

    assert deleted.returncode == 0, deleted.stderr
    assert settled(leftovers) == ([], [])
