"""The Pulumi CLI as the Automation API runs it, each run timed for :mod:`..base.trace`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi import automation as auto

from devservers.stacks.base import trace


class TracedPulumi(auto.PulumiCommand):
    """The ``pulumi`` on PATH (version-checked when built); each run is traced."""

    def __init__(self) -> None:
        with trace.span("cli", "version"):
            super().__init__()

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Any = None,
        on_error: Any = None,
    ) -> auto.CommandResult:
        """Runs one CLI command (see ``auto.PulumiCommand.run``), timed for :mod:`..base.trace`."""
        with trace.span("cli", command_words(args)):
            return super().run(args, cwd, additional_env, on_output, on_error)


def command_words(args: list[str]) -> str:
    """The command of a CLI argument list without its flags: ``up``, ``stack export``."""
    words: list[str] = []
    for arg in args:
        if arg.startswith("-"):
            if words:
                break
            continue
        words.append(arg)
        if len(words) == 2 or words[0] not in ("stack", "plugin"):
            break
    return " ".join(words)
