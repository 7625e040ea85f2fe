"""The engine processes end with the process that started them, however it ends.

The Automation API runs the Pulumi CLI as a child, and the CLI runs the
``pulumi-resource-kubernetes`` plugin in a process group of its own (so that a
Ctrl-C reaches the engine only). When devctl dies (``kill -9``, Ctrl-C, a
closed terminal) the CLI dies with it at its next write to the closed pipe
(SIGPIPE) without closing its plugins, and a plugin never exits by itself:
it stays, re-parented to init, forever. No flag of the CLI or the SDK changes
that, and ``PR_SET_PDEATHSIG`` only reaches a process that sets it after its
own fork, which the CLI does not do for its plugins.

So the first engine operation of a process starts a guard: a small Python
process (standard library only, ``-I -S``: no site packages, a few
milliseconds) in a session of its own, so that the terminal's signals do not
reach it. It holds the read end of a pipe whose write end only the devctl
process holds; the kernel closes that end when devctl exits, whatever the
cause, and the guard's read returns. The guard then ends every process
marked with devctl's ``DEVSERVERS_ENGINE_OWNER`` in its environment (the
engine's environment carries it, and each plugin inherits it): SIGTERM, which
the CLI answers by cancelling and closing its plugins, then SIGKILL after
:data:`GRACE_SECONDS` for what is left. Zombies are skipped: they are dead.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time

OWNER_VAR = "DEVSERVERS_ENGINE_OWNER"
"""Environment variable marking the engine processes of one devctl process (``<pid>.<nonce>``)."""

GRACE_SECONDS = 10.0
"""How long the guard waits after SIGTERM before it sends SIGKILL."""

POLL_SECONDS = 0.1
"""How often the guard looks for the marked processes while they end."""

_started: dict[str, str] = {}
_guards: list[object] = []
"""The guard's process handle, kept for this process's life (it outlives every engine call)."""


def engine_env() -> dict[str, str]:
    """The environment entry marking this process's engine processes; starts the guard once.

    Returns:
        Mapping of ``DEVSERVERS_ENGINE_OWNER`` → this process's mark, for the
        engine's environment.

    Raises:
        KeyboardInterrupt: This process was interrupted: no engine starts any more.
    """
    if _interrupts:
        raise KeyboardInterrupt
    if not _started:
        import secrets
        import subprocess

        mark = f"{os.getpid()}.{secrets.token_hex(8)}"
        read_end, write_end = os.pipe()  # neither end is inherited by later children
        env = {k: v for k, v in os.environ.items() if k != OWNER_VAR}
        guard = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, mark, str(read_end)],
            pass_fds=(read_end,),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        _guards.append(guard)
        os.close(read_end)
        _started.update({OWNER_VAR: mark, "write_end": str(write_end)})
    return {OWNER_VAR: _started[OWNER_VAR]}


_interrupts: list[int] = []


def on_interrupt(signum: int, frame: object) -> None:
    """Handles devctl's SIGINT, SIGTERM and SIGHUP: the engine ends, then devctl.

    While an engine operation runs, the first signal has the guard end the
    engine now (closing the pipe wakes it as this process's exit would) and
    returns: the call waiting on the engine returns with its error once the
    engine's output is read to the end, so no reader of it is cut off.
    Otherwise, and at a second signal, it raises ``KeyboardInterrupt``. After
    a signal no engine operation starts (:func:`engine_env` raises).
    """
    _interrupts.append(signum)
    mark = _started.get(OWNER_VAR)
    if len(_interrupts) == 1 and mark and marked(mark):
        write_end = _started.pop("write_end")
        _started.clear()
        os.close(int(write_end))
        return
    raise KeyboardInterrupt


def interrupted() -> int | None:
    """The first signal :func:`on_interrupt` received, or ``None``."""
    return _interrupts[0] if _interrupts else None


def marked(mark: str) -> list[int]:
    """Live (not zombie) processes whose environment carries ``mark``, this one excluded."""
    needle = f"{OWNER_VAR}={mark}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as handle:
                if needle not in handle.read() + b"\0":
                    continue
        except OSError:  # gone, or not ours
            continue
        if process_state(int(entry)) not in (None, "Z", "X"):
            found.append(int(entry))
    return found


def process_state(pid: int) -> str | None:
    """The state letter of ``/proc/<pid>/stat`` (``R``, ``S``, ``T``, ``Z``…), ``None`` if gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def end_marked(mark: str, grace_seconds: float = GRACE_SECONDS) -> None:
    """SIGTERM to every marked process, then SIGKILL to those left after ``grace_seconds``."""
    deadline = time.monotonic() + grace_seconds
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in marked(mark):
            _signal(pid, signal.SIGCONT)  # a stopped process cannot act on SIGTERM
            _signal(pid, sig)
        while marked(mark) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(OSError):  # gone meanwhile
        os.kill(pid, sig)


def _main(mark: str, read_end: int) -> None:
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    while True:
        try:
            if not os.read(read_end, 1):
                break
        except InterruptedError:
            continue
    end_marked(mark)


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]))
