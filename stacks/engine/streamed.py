"""A stack whose operations take their result from the engine's own event stream.

``auto.Stack`` costs CLI runs around every operation: ``pulumi stack select``
when it is opened, and after each ``up``, ``refresh`` or ``destroy``
``pulumi stack output`` twice (masked, then plain) and ``pulumi stack
history`` for the summary. The engine already streams every step and the
summary as structured events while it runs, so :class:`StreamedStack` reads
the result from those events instead:

* the summary (``result``, ``resource_changes``) from the ``summary_event``;
* the outputs (``UpResult.outputs``) from the outputs of the root
  ``pulumi:pulumi:Stack`` resource; the event stream masks secrets, so a
  secret output reads ``[secret]`` (callers that need one read the
  checkpoint, see :func:`.programs.read_checkpoint`).

Opening needs no CLI run: every command the Automation API runs names its
stack (``--stack``), so a missing stack surfaces as ``StackNotFoundError``
from the first command instead.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from pulumi import automation as auto
from pulumi.automation._stack import StackInitMode

from devservers.stacks.engine.exports import ROOT_TYPE

SECRET = "[secret]"
"""What the event stream shows in place of a secret value."""


class Streamed:
    """What one engine operation streamed: its summary and the root stack's outputs."""

    def __init__(self, kind: str, on_event: Callable[[auto.EngineEvent], Any] | None) -> None:
        self.kind = kind
        self.summary: auto.events.SummaryEvent | None = None
        self.outputs: dict[str, Any] = {}
        self._theirs = on_event
        self.started = datetime.now(UTC)

    def __call__(self, event: auto.EngineEvent) -> None:
        """Keeps what the result needs, then passes the event on."""
        if event.summary_event is not None:
            self.summary = event.summary_event
        done = event.res_outputs_event
        if done is not None and done.metadata.type == ROOT_TYPE and done.metadata.new is not None:
            self.outputs = dict(done.metadata.new.outputs or {})
        if self._theirs is not None:
            self._theirs(event)

    def update_summary(self) -> auto.UpdateSummary:
        """The operation's summary as ``auto.Stack.info()`` would have read it back."""
        seconds = self.summary.duration_seconds if self.summary else 0
        return auto.UpdateSummary(
            kind=self.kind,
            start_time=self.started,
            end_time=self.started + timedelta(seconds=seconds),
            message="",
            environment={},
            config={},
            result="succeeded",  # a failed operation raised before its summary is asked for
            resource_changes=dict(self.summary.resource_changes) if self.summary else {},
        )

    def output_map(self) -> auto.OutputMap:
        """The root stack's outputs; secrets (masked by the stream) are marked as such."""
        return {
            key: auto.OutputValue(value=value, secret=value == SECRET)
            for key, value in self.outputs.items()
        }


class StreamedStack(auto.Stack):
    """An ``auto.Stack`` opened without a CLI run; its operations read only what they streamed.

    See the module's docstring.

    Args:
        name: The stack's name.
        workspace: Its workspace (backend, environment, program).
    """

    def __init__(self, name: str, workspace: auto.LocalWorkspace) -> None:  # no `stack select`
        self.name = name
        self.workspace = workspace
        self._mode = StackInitMode.SELECT
        self._streamed: Streamed | None = None

    def up(self, **kwargs: Any) -> auto.UpResult:
        """``auto.Stack.up`` without the three CLI runs after it."""
        return self._streaming("update", super().up, kwargs)

    def refresh(self, **kwargs: Any) -> auto.RefreshResult:
        """``auto.Stack.refresh`` without the CLI run after it."""
        return self._streaming("refresh", super().refresh, kwargs)

    def destroy(self, **kwargs: Any) -> auto.DestroyResult:
        """``auto.Stack.destroy`` without the CLI run after it."""
        return self._streaming("destroy", super().destroy, kwargs)

    def outputs(self) -> auto.OutputMap:
        """During an operation, what it streamed; otherwise read back (two CLI runs)."""
        if self._streamed is not None:
            return self._streamed.output_map()
        return super().outputs()

    def info(self, show_secrets: bool = True) -> auto.UpdateSummary | None:
        """During an operation, its streamed summary; otherwise read back (one CLI run)."""
        if self._streamed is not None:
            return self._streamed.update_summary()
        return super().info(show_secrets)

    def _streaming(self, kind: str, operation: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
        self._streamed = Streamed(kind, kwargs.get("on_event"))
        kwargs["on_event"] = self._streamed
        try:
            return operation(**kwargs)
        finally:
            self._streamed = None
