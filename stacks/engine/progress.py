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


Line = Callable[[events.EngineEvent], str | None]
"""The progress line of an engine event, if it calls for one: ``deployment/box created``."""


def engine_output(
    progress: Progress | None,
    stack: str,
    keep: Callable[[str], bool] | None = None,
    line: Line | None = None,
) -> dict[str, Any]:
    """Keyword arguments of an engine call (``up``, ``destroy``, ``refresh``) for ``progress``.

    Args:
        progress: Where lines go; ``None`` for none, a :class:`RawOutput` for
            the engine's own output.
        stack: The stack's name, for the summary line.
        keep: For raw output, which lines to pass on (default: all).
        line: The line of each event (default: :func:`step_line`; a
            refresh's: :func:`drift_line`).
    """
    marks = {"on_event": mark_step} if trace.enabled() else {}
    if progress is None:
        return marks
    if isinstance(progress, RawOutput):
        return {"on_output": progress if keep is None else _filtered(progress, keep), **marks}
    return {"on_event": StepLines(progress, stack, line)}


def mark_step(event: events.EngineEvent) -> None:
    """Records the start or end of a resource step in :mod:`..base.trace`."""
    pre, done = event.resource_pre_event, event.res_outputs_event
    if pre is not None or done is not None:
        step = (pre or done).metadata
        trace.mark("step", f"{'start' if pre else 'done'} {step.op} {step.type}")


def _filtered(progress: Progress, keep: Callable[[str], bool]) -> Progress:
    return lambda line: progress(line) if keep(line) else None


class StepLines:
    """An ``on_event`` callback writing one line per object step, then one summary.

    Args:
        progress: Where the lines go.
        stack: The stack's name, for the summary line.
        line: The line of an event (``kind/name verb…``), counted by its verb
            (default: :func:`step_line`).
    """

    def __init__(self, progress: Progress, stack: str, line: Line | None = None) -> None:
        self.progress = progress
        self.stack = stack
        self.line = line or step_line
        self.counts: dict[str, int] = {}

    def __call__(self, event: events.EngineEvent) -> None:
        """Writes the line ``event`` calls for, if any."""
        mark_step(event)
        step = self.line(event)
        if step is not None:
            verb = step.split(" ")[1].rstrip(":")
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
    verb = DONE.get(_op(step))
    if verb is None or not _on_object(step):
        return None
    return f"{_object(step)} {verb if event.res_outputs_event else 'failed'}"


def drift_line(event: events.EngineEvent) -> str | None:
    """What a refresh found changed on one object, as the engine's diff names it, else ``None``.

    ``deployment/box edited: spec.replicas`` (the property paths where the
    object differs from what the stack asked for), or ``service/box-ssh
    missing``. Events of a refresh carry the refresh's verdict as their
    operation (``same``, ``update``, ``delete``).
    """
    done = event.res_outputs_event
    if done is None or not _on_object(done.metadata):
        return None
    step, op = done.metadata, _op(done.metadata)
    if op == "delete":
        return f"{_object(step)} missing"
    fields = sorted(step.detailed_diff or {}) or sorted(step.diffs or [])
    return f"{_object(step)} edited: {', '.join(fields)}" if op == "update" else None


def collecting(output: dict[str, Any], line: Line, into: list[str]) -> dict[str, Any]:
    """The engine call's keyword arguments ``output``, also appending each ``line`` to ``into``."""
    theirs = output.get("on_event")

    def on_event(event: events.EngineEvent) -> None:
        found = line(event)
        if found is not None:
            into.append(found)
        if theirs is not None:
            theirs(event)

    return {**output, "on_event": on_event}


def _op(step: events.StepEventMetadata) -> str:
    return str(getattr(step.op, "value", step.op))


def _on_object(step: events.StepEventMetadata) -> bool:
    """Whether the step acts on a Kubernetes object (not a stack, provider or component)."""
    state = step.new or step.old
    return not step.type.startswith("pulumi:") and not (state and not state.custom)


def _object(step: events.StepEventMetadata) -> str:
    """``deployment/box``: the object's kind, lowercase, and its name, as kubectl writes it."""
    return f"{step.type.rsplit(':', 1)[-1].lower()}/{step.urn.rsplit('::', 1)[-1]}"


def summary_line(stack: str, counts: dict[str, int], seconds: int) -> str:
    """``alice.box: 6 created, 1 configured (3s)``; counts map a verb to its objects."""
    changes = ", ".join(f"{n} {verb}" for verb, n in counts.items())
    return f"{stack}: {changes or 'no changes'} ({seconds}s)"
