"""The Pulumi CLI as the Automation API runs it: version checked once per binary, runs timed.

``auto.PulumiCommand()`` runs ``pulumi version`` each time it is built, that
is once per devctl process: a whole CLI start before every operation. The
version of a binary does not change while the binary stays the same, so it
is checked once (by the Automation API's own rule, minimum version included)
and remembered in ``<state_dir>/pulumi-version.json``, keyed by the binary's
path, size and modification time. A new or rebuilt binary is checked again.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from semver import VersionInfo

from devservers.stacks.base import trace

VERSION_FILE = "pulumi-version.json"
"""Where the checked version is remembered, under devctl's state directory."""


class KnownPulumi(auto.PulumiCommand):
    """The ``pulumi`` on PATH, of a version already checked; each run is traced.

    Args:
        version: The binary's version, as checked by ``auto.PulumiCommand``.
    """

    def __init__(self, version: VersionInfo | None) -> None:  # no `pulumi version` run
        self.command = "pulumi"
        self.version = version

    def run(
        self,
        args: list[str],
        cwd: str,
        additional_env: Mapping[str, str],
        on_output: Any = None,
        on_error: Any = None,
    ) -> auto.CommandResult:
        """Runs one CLI command (see ``auto.PulumiCommand.run``), timed for :mod:`.base.trace`."""
        with trace.span("cli", command_words(args)):
            return super().run(args, cwd, additional_env, on_output, on_error)


def command_words(args: list[str]) -> str:
    """The command of a CLI argument list without its flags: ``up``, ``stack export``."""
    words = []
    for arg in args:
        if arg.startswith("-"):
            if words:
                break
            continue
        words.append(arg)
        if len(words) == 2 or words[0] not in ("stack", "plugin"):
            break
    return " ".join(words)


def known_pulumi(state_dir: Path) -> auto.PulumiCommand:
    """The ``pulumi`` on PATH, its version checked once per binary (see the module's docstring).

    Raises:
        FileNotFoundError: No ``pulumi`` on PATH.
        auto.InvalidVersionError: The binary is older than the Automation API supports.
    """
    binary = shutil.which("pulumi")
    if binary is None:
        return auto.PulumiCommand()  # raises FileNotFoundError, as it always did
    key = _identity(binary)
    cache = state_dir / VERSION_FILE
    known = _remembered(cache, key)
    if known is not None:
        return KnownPulumi(known)
    with trace.span("cli", "version"):
        checked = auto.PulumiCommand()
    if checked.version is not None:
        _remember(cache, key, checked.version)
    return KnownPulumi(checked.version)


def _identity(binary: str) -> dict[str, Any]:
    real = os.path.realpath(binary)
    stat = os.stat(real)
    return {"path": real, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def _remembered(cache: Path, key: dict[str, Any]) -> VersionInfo | None:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
        return VersionInfo.parse(data["version"]) if data.get("binary") == key else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _remember(cache: Path, key: dict[str, Any], version: VersionInfo) -> None:
    """Writes the cache atomically (a reader never sees half of it); failures are ignored."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        partial = cache.with_name(f"{cache.name}.{os.getpid()}")
        partial.write_text(json.dumps({"binary": key, "version": str(version)}), encoding="utf-8")
        partial.replace(cache)
    except OSError:
        pass
