"""Bad input against the real cluster and engine: exit 2, one line, no stack, no object."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def devctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["devctl", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    ("args", "extra_env", "named"),
    [
        (("create", "box", "-v", "data:/x/../etc"), {}, "/x/../etc"),
        (("create", "box", "--ttl", "1y"), {}, "1y"),
        (("create", "box", "--flavor", "GPU-SMALL"), {}, "GPU-SMALL"),
        (("--context", "no-such-context", "create", "box"), {}, "no-such-context"),
        (("create", "box"), {"DEVSERVERS_BACKEND_URL": "file:///proc/devservers-state"}, "/proc"),
        (("create", "Box_1"), {}, "Box_1"),
    ],
    ids=["volume", "ttl", "flavor", "context", "unwritable-backend", "name"],
)
def test_bad_input_touches_neither_cluster_nor_state(
    devctl_env: dict[str, str],
    leftovers: Callable[[], tuple[list[str], list[str]]],
    args: tuple[str, ...],
    extra_env: dict[str, str],
    named: str,
) -> None:
    env = {**devctl_env, **extra_env}
    result = devctl(env, *args)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and named in errors[0], result.stderr
    assert leftovers() == ([], [])
    assert not Path("/proc/devservers-state").exists()
