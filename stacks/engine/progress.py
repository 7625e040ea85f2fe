"""Engine progress as kubectl prints it: one line per object changed, one summary line.

The engine's own display repeats every resource two or three times (planned,
in progress, done) and adds headers, a resource tree and advice. devctl asks
for the engine's structured events instead (``on_event``) and writes, for
each Kubernetes object the engine changed, ``deployment/box created``, then
one line such as ``alice.box: 6 created (3s)``. :class:`RawOutput` asks for
the engine's own output instead (``devctl --debug``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pulumi.automation import events

from devservers.stacks.base import trace

Progress = Callable[[str], Any]
"""Receives progress lines (without a trailing newline)."""

DONE = {
    "create": "created",
    "update": "configured",
    "delete": "deleted",
    "replace": "replaced",
    "import": "imported",
}
"""Past tense of each engine step shown, as kubectl words it; other steps (same, read,
refresh, and the two halves of a replacement) are not shown."""


class RawOutput:
    """Progress that wants the engine's own output lines, every detail included.

    Args:
        write: Called with each line of the engine's output.
    """

    def __init__(self, write: Progress) -> None:
        self.write = write

    def __call__(self, line: str) -> Any:
        """Passes ``line`` on."""
        return self.write(line)


def engine_output(
    progress: Progress | None, stack: str, keep: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """Keyword arguments of an engine call (``up``, ``destroy``, ``refresh``) for ``progress``.

    Args:
        progress: Where lines go; ``None`` for none, a :class:`RawOutput` for
            the engine's own output.
        stack: The stack's name, for the summary line.
        keep: For raw output, which lines to pass on (default: all).
    """
    marks = {"on_event": mark_step} if trace.enabled() else {}
    if progress is None:
        return marks
    if isinstance(progress, RawOutput):
        return {"on_output": progress if keep is None else _filtered(progress, keep), **marks}
    return {"on_event": StepLines(progress, stack)}


def mark_step(event: events.EngineEvent) -> None:
    """Records the start or end of a resource step in :mod:`..base.trace`."""
    pre, done = event.resource_pre_event, event.res_outputs_event
    if pre is not None or done is not None:
        step = (pre or done).metadata
        trace.mark("step", f"{'start' if pre else 'done'} {step.op} {step.type}")


def _filtered(progress: Progress, keep: Callable[[str], bool]) -> Progress:
    return lambda line: progress(line) if keep(line) else None


class StepLines:
    """An ``on_event`` callback writing one line per object step, then one summary."""

    def __init__(self, progress: Progress, stack: str) -> None:
        self.progress = progress
        self.stack = stack
        self.counts: dict[str, int] = {}

    def __call__(self, event: events.EngineEvent) -> None:
        """Writes the line ``event`` calls for, if any."""
        mark_step(event)
        step = step_line(event)
        if step is not None:
            verb = step.rsplit(" ", 1)[-1]
            self.counts[verb] = self.counts.get(verb, 0) + 1
            self.progress(step)
        elif event.summary_event is not None:
            self.progress(
                summary_line(self.stack, self.counts, event.summary_event.duration_seconds)
            )


def step_line(event: events.EngineEvent) -> str | None:
    """``deployment/box created`` for a finished (or failed) step on an object, else ``None``."""
    done = event.res_outputs_event or event.res_op_failed_event
    if done is None:
        return None
    step = done.metadata
    verb = DONE.get(str(getattr(step.op, "value", step.op)))
    state = step.new or step.old
    if verb is None or step.type.startswith("pulumi:") or (state and not state.custom):
        return None
    kind = step.type.rsplit(":", 1)[-1].lower()
    name = step.urn.rsplit("::", 1)[-1]
    return f"{kind}/{name} {verb if event.res_outputs_event else 'failed'}"


def summary_line(stack: str, counts: dict[str, int], seconds: int) -> str:
    """``alice.box: 6 created, 1 configured (3s)``; counts map a verb to its objects."""
    changes = ", ".join(f"{n} {verb}" for verb, n in counts.items())
    return f"{stack}: {changes or 'no changes'} ({seconds}s)"
