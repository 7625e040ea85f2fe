"""The engine's processes end with the process that started them (real processes, no engine).

A stand-in for devctl marks an "engine" through :mod:`devservers.stacks.engine.guard`;
the engine starts a "plugin" in a process group of its own, as the Pulumi CLI does.
Whatever ends the stand-in, neither may survive it. PID 1 reaps orphans late here,
so a process counts as gone once it is a zombie (its state in /proc), not when
``kill -0`` fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from devservers.stacks.engine.guard import process_state

ENGINE = textwrap.dedent(
    """
    import subprocess, sys, time
    plugin = subprocess.Popen(["sleep", "600"], process_group=0)
    print(plugin.pid, flush=True)
    time.sleep(600)
    """
)

DEVCTL = textwrap.dedent(
    f"""
    import os, subprocess, sys, time
    from devservers.stacks.engine import guard
    engine = subprocess.Popen(
        [sys.executable, "-c", {ENGINE!r}],
        env={{**os.environ, **guard.engine_env()}},
        stdout=subprocess.PIPE,
        text=True,
    )
    print(engine.pid, engine.stdout.readline().strip(), flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)
    time.sleep(600)
    """
)


def _gone(pid: int) -> bool:
    return process_state(pid) in (None, "Z", "X")


def _wait_until_gone(pids: list[int], bound_seconds: float = 60) -> list[int]:
    """The pids still alive once all ended or ``bound_seconds`` passed (a bound, not a check)."""
    deadline = time.monotonic() + bound_seconds
    while time.monotonic() < deadline and not all(map(_gone, pids)):
        time.sleep(0.1)
    return [pid for pid in pids if not _gone(pid)]


def _start(how: str) -> tuple[subprocess.Popen, int, int]:
    devctl = subprocess.Popen(
        [sys.executable, "-c", DEVCTL, how], stdout=subprocess.PIPE, text=True
    )
    with devctl.stdout:
        engine, plugin = map(int, devctl.stdout.readline().split())
    return devctl, engine, plugin


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM, signal.SIGHUP])
def test_the_engine_and_its_plugin_end_when_devctl_is_killed(how: signal.Signals) -> None:
    devctl, engine, plugin = _start("sleep")
    assert not _gone(engine) and not _gone(plugin)

    devctl.send_signal(how)
    devctl.wait()

    assert _wait_until_gone([engine, plugin]) == []


def test_an_orphaned_plugin_ends_when_devctl_exits() -> None:
    devctl, engine, plugin = _start("sleep")
    os.kill(engine, signal.SIGKILL)  # the CLI dies first (SIGPIPE): its plugin is orphaned
    assert _wait_until_gone([engine]) == []
    assert not _gone(plugin)

    devctl.send_signal(signal.SIGKILL)
    devctl.wait()

    assert _wait_until_gone([plugin]) == []


def test_a_stopped_plugin_ends_too() -> None:
    devctl, engine, plugin = _start("sleep")
    os.kill(plugin, signal.SIGSTOP)

    devctl.send_signal(signal.SIGKILL)
    devctl.wait()

    assert _wait_until_gone([engine, plugin]) == []


def test_processes_without_the_mark_are_left_alone() -> None:
    bystander = subprocess.Popen(["sleep", "600"])
    try:
        devctl, engine, plugin = _start("exit")
        devctl.wait()
        assert _wait_until_gone([engine, plugin]) == []
        assert process_state(bystander.pid) == "S"
    finally:
        bystander.kill()
        bystander.wait()


FAKE_PULUMI = textwrap.dedent(
    """\
    #!{python}
    # A stand-in for the Pulumi CLI: a plugin in its own process group, progress on stdout,
    # and on SIGINT/SIGTERM a cancel that closes the plugin and exits 255, as the CLI does.
    import os, signal, subprocess, sys, time
    if sys.argv[1:] == ["version"]:
        sys.exit(print("v3.274.1"))
    plugin = subprocess.Popen(["sleep", "600"], process_group=0)
    def cancel(signum, frame):
        print("cancelling", flush=True)
        os.killpg(plugin.pid, signal.SIGKILL)
        sys.exit(255)
    signal.signal(signal.SIGINT, cancel)
    signal.signal(signal.SIGTERM, cancel)
    print("plugin", plugin.pid, flush=True)
    while True:
        print("updating...", flush=True)
        time.sleep(0.05)
    """
)

DEVCTL_UP = textwrap.dedent(
    """
    import signal, sys
    import typer
    from pulumi import automation as auto
    from devservers.cli.errors import DevctlGroup
    from devservers.stacks import on_interrupt
    from devservers.stacks.engine import guard
    from devservers.stacks.engine.failures import engine_errors

    app = typer.Typer(cls=DevctlGroup, pretty_exceptions_enable=False)

    @app.command()
    def up(root: str) -> None:
        command = auto.PulumiCommand(root=root, skip_version_check=True)
        show = lambda line: print(line, file=sys.stderr, flush=True)
        with engine_errors("alice.box", "update"):
            command.run(["up"], root, guard.engine_env(), on_output=show)

    @app.callback()
    def main() -> None: ...

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_interrupt)
    app()
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
def test_an_interrupted_command_ends_its_engine_and_says_one_line(
    tmp_path, sig: signal.Signals
) -> None:
    pulumi = tmp_path / "bin" / "pulumi"
    pulumi.parent.mkdir()
    pulumi.write_text(FAKE_PULUMI.format(python=sys.executable))
    pulumi.chmod(0o755)
    devctl = subprocess.Popen(
        [sys.executable, "-c", DEVCTL_UP, "up", str(tmp_path)], stderr=subprocess.PIPE, text=True
    )
    with devctl.stderr:
        while not (line := devctl.stderr.readline()).startswith("plugin "):
            assert line
        plugin = int(line.split()[1])
        devctl.send_signal(sig)
        rest = devctl.stderr.read()
    assert devctl.wait() == 128 + sig
    errors = [line for line in rest.splitlines() if "error" in line.lower()]
    assert errors == [f"error: interrupted by {sig.name}: run the same command again to resume"]
    assert "Traceback" not in rest and "Exception" not in rest
    assert "cancelling" in rest  # the engine ended its own way, its output read to the end
    assert _wait_until_gone([plugin]) == []
