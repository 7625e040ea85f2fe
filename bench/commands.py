"""Running the commands a benchmark measures: they must succeed, or the run stops."""

from __future__ import annotations

import subprocess
import time


def sh(*cmd: str, env: dict[str, str] | None = None, stdin: str | None = None) -> str:
    """Runs a command that must succeed; returns stdout."""
    done = subprocess.run(cmd, env=env, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def timed(*cmd: str, env: dict[str, str] | None = None, stdin: str | None = None) -> float:
    """Wall seconds of a command that must succeed."""
    start = time.monotonic()
    sh(*cmd, env=env, stdin=stdin)
    return time.monotonic() - start
