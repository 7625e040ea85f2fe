"""Where one devctl operation's time goes: its own trace beside the benchmark's clock.

Each measured command runs with ``DEVSERVERS_TRACE_FILE`` pointing at a file
of its own; devctl appends one line per Pulumi CLI run, per Kubernetes API
call and per engine step (``devservers.stacks.base.trace``), stamped with
``time.monotonic()``, the benchmark's clock too. From one run:

* the CLI processes it ran (``up``, ``stack export``…), counted, with durations;
* its own Kubernetes API calls (the provider plugin's are not counted);
* seconds from devctl's start to the engine's first resource step, and from
  the last step to devctl's exit;
* for create and start, seconds from the pod turning Ready (seen by a watch,
  :mod:`podwatch`) to devctl's exit.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from proctree import Peak, sampling


@dataclass(frozen=True)
class Traced:
    """One finished devctl run: its start and end (monotonic seconds), result and records."""

    start: float
    end: float
    done: subprocess.CompletedProcess[str]
    records: list[dict[str, Any]]

    @property
    def seconds(self) -> float:
        """Wall seconds from start to exit."""
        return self.end - self.start


def run_traced(cmd: list[str], env: dict[str, str], peak: Peak | None = None) -> Traced:
    """Runs ``cmd`` with a trace file of its own; it must succeed.

    With ``peak``, the memory of its process tree is sampled into it (:mod:`proctree`).
    """
    fd, path = tempfile.mkstemp(prefix="devctl-trace-", suffix=".jsonl")
    os.close(fd)
    try:
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd,
            env={**env, "DEVSERVERS_TRACE_FILE": path},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        with sampling(proc.pid, into=peak) if peak is not None else nullcontext():
            out, err = proc.communicate()
        end = time.monotonic()
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    finally:
        os.unlink(path)
    done = subprocess.CompletedProcess(cmd, proc.returncode, out, err)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return Traced(start, end, done, [json.loads(line) for line in lines if line.strip()])


def breakdown(run: Traced, ready_at: float | None = None) -> dict[str, Any]:
    """The figures of one run (seconds; ``None`` where the run had no such instant)."""
    cli = [r for r in run.records if r["kind"] == "cli"]
    api = [r for r in run.records if r["kind"] == "api"]
    steps = [r for r in run.records if r["kind"] == "step"]
    return {
        "seconds": round(run.seconds, 3),
        "cli_runs": len(cli),
        "cli": [[r["what"], round(r["end"] - r["start"], 3)] for r in cli],
        "cli_seconds": round(sum(r["end"] - r["start"] for r in cli), 3),
        "api_calls": len(api),
        "api_seconds": round(sum(r["end"] - r["start"] for r in api), 3),
        "to_first_step": round(steps[0]["start"] - run.start, 3) if steps else None,
        "last_step_to_exit": round(run.end - steps[-1]["end"], 3) if steps else None,
        "ready_to_exit": round(run.end - ready_at, 3) if ready_at is not None else None,
    }


NUMBERS = (
    "seconds",
    "cli_runs",
    "cli_seconds",
    "api_calls",
    "api_seconds",
    "to_first_step",
    "last_step_to_exit",
    "ready_to_exit",
)


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of each figure over ``runs``, the CLI runs of the median run, and their counts."""
    out: dict[str, Any] = {"n": len(runs)}
    for key in NUMBERS:
        values = [r[key] for r in runs if r[key] is not None]
        out[key] = round(statistics.median(values), 3) if values else None
    middle = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    out["cli_of_median_run"] = middle["cli"]
    out["cli_by_command"] = dict(Counter(what for what, _ in middle["cli"]))
    return out
