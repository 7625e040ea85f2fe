"""The reaper as an admin runs it (real processes): signals reach it, and its log is in UTC.

``devctl reaper run`` becomes the reaper (same process id), so TERM, HUP or INT
sent to the process an admin sees stop the reaper itself and SIGSTOP pauses it:
no reaper is left running beside or below it. The cluster of the ``home``
fixture refuses connections, so each pass fails at once and the service waits
for the next one (an hour later) until it is signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devservers.stacks.engine.guard import process_state

DEVCTL = str(Path(sys.executable).with_name("devctl"))
RFC3339_UTC = "%Y-%m-%dT%H:%M:%SZ"
MARK = uuid.uuid4().hex
COMMANDS = {
    "devctl": [DEVCTL, "reaper", "run", "--interval", "1h"],
    "module": [sys.executable, "-m", "devservers.reaper", "--interval", "1h"],
}


@contextmanager
def reaper(command: list[str]) -> Iterator[tuple[subprocess.Popen, list[str]]]:
    """A reaper in service mode, once its first pass failed; yields it and its log so far."""
    # UTC+9: local times would be 9 hours off. MARK tells this test's reapers from others.
    env = {**os.environ, "TZ": "Asia/Tokyo", "DEVSERVERS_TEST_MARK": MARK}
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        while not any("pass failed" in line for line in lines):
            line = process.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        process.stderr.close()


def reapers_besides(pid: int) -> list[int]:
    """Other live processes of this test run's reapers (children included)."""
    found = []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        live = process_state(int(entry)) not in (None, "Z", "X")
        ours = f"DEVSERVERS_TEST_MARK={MARK}".encode() in environ
        if int(entry) != pid and b"devservers.reaper" in cmdline and live and ours:
            found.append(int(entry))
    return found


@pytest.mark.parametrize("how", COMMANDS)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_stop_signal_ends_the_reaper_the_admin_sees(
    home: Path, how: str, sig: signal.Signals
) -> None:
    with reaper(COMMANDS[how]) as (process, _):
        assert reapers_besides(process.pid) == []

        process.send_signal(sig)
        rest = process.stderr.read()
        code = process.wait()

    assert code == 0, rest
    assert f"{sig.name}: finishing the servers in hand" in rest
    assert "Traceback" not in rest
    assert reapers_besides(process.pid) == []


def test_sigstop_pauses_the_reaper_itself(home: Path) -> None:
    with reaper(COMMANDS["devctl"]) as (process, _):
        process.send_signal(signal.SIGSTOP)
        try:
            os.waitid(os.P_PID, process.pid, os.WSTOPPED)  # returns once it is stopped
            assert process_state(process.pid) in ("T", "t")
            assert reapers_besides(process.pid) == []
        finally:
            process.send_signal(signal.SIGCONT)


def test_reaper_log_lines_carry_utc(home: Path) -> None:
    with reaper(COMMANDS["module"]) as (_, lines):
        pass
    stamps = [datetime.strptime(line.split()[0], RFC3339_UTC) for line in lines]
    now = datetime.now(UTC).replace(tzinfo=None)
    assert stamps and all(abs(now - stamp) < timedelta(hours=1) for stamp in stamps), lines
