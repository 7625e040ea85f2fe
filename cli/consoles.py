"""Rich consoles created on first use, so that importing the CLI does not import rich.

``devctl --help`` and commands that print nothing through a console never pay
for rich's import (about a tenth of a second).
"""

from __future__ import annotations

from typing import Any


class LazyConsole:
    """Stands for a ``rich.console.Console`` built with the given keyword arguments."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)
