"""Processes die with devctl: no engine process outlives it, whatever ends it (real engine).

The Pulumi CLI runs the ``pulumi-resource-kubernetes`` plugin in a process group of
its own; before the guard, a devctl killed or interrupted mid-create left that plugin
running forever under PID 1. Processes are found by the mark the engine's environment
carries (``DEVSERVERS_ENGINE_OWNER=<devctl pid>.…``); a zombie counts as gone (PID 1
reaps late here), so the state is read from /proc.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_devctl import devctl

from devservers.stacks.engine.guard import OWNER_VAR, process_state


def engine_of(pid: int) -> dict[int, str]:
    """Live processes marked as the engine of devctl ``pid``: pid → command name."""
    needle = f"{OWNER_VAR}={pid}.".encode()
    found = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            marked = needle in Path(f"/proc/{entry}/environ").read_bytes()
            name = Path(f"/proc/{entry}/comm").read_text().strip()
        except OSError:
            continue
        if marked and process_state(int(entry)) not in (None, "Z", "X"):
            found[int(entry)] = name
    return found


def until(condition, bound_seconds: float = 120) -> bool:
    """Whether ``condition()`` came true within ``bound_seconds`` (a bound, not a check)."""
    deadline = time.monotonic() + bound_seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.1)
    return condition()


@pytest.mark.parametrize("how", ["kill-9", "ctrl-c", "term"])
def test_no_engine_process_outlives_devctl(devctl_env: dict[str, str], how: str) -> None:
    create = subprocess.Popen(
        ["devctl", "create", "box"],
        env=devctl_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        process_group=0,  # its own group, as a terminal's foreground job
    )
    try:
        assert until(lambda: "pulumi-resource" in engine_of(create.pid).values())  # comm: 15 chars
        if how == "kill-9":
            create.kill()
        elif how == "ctrl-c":
            os.killpg(create.pid, signal.SIGINT)  # the terminal signals the whole group
        else:
            create.terminate()
        err = create.stderr.read()
        code = create.wait()
        assert until(lambda: engine_of(create.pid) == {}), engine_of(create.pid)
    finally:
        if create.poll() is None:
            create.kill()
        create.wait()
        create.stderr.close()

    if how != "kill-9":
        assert code == 128 + (signal.SIGINT if how == "ctrl-c" else signal.SIGTERM), err
        assert [line for line in err.splitlines() if line.startswith("error")] == [
            f"error: interrupted by {'SIGINT' if how == 'ctrl-c' else 'SIGTERM'}: "
            "run the same command again to resume"
        ], err
        assert "Traceback" not in err
    deleted = devctl(devctl_env, "delete", "box", "--yes")
    assert deleted.returncode in (0, 3), deleted.stderr  # 3: the stack was never made
