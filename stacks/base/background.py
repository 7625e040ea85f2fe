"""Work in a thread while the caller goes on, e.g. cluster checks while the engine starts."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


def in_background(work: Callable[[], T]) -> Future[T]:
    """Runs ``work`` in a daemon thread at once.

    Returns:
        Its future: ``result()`` returns what ``work`` returned, or raises what
        it raised, in the caller's thread.
    """
    future: Future[T] = Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:  # handed to the caller, who re-raises it
            future.set_exception(exc)

    threading.Thread(target=run, name=getattr(work, "__name__", "background"), daemon=True).start()
    return future


class Later:
    """Stands for the object ``make`` returns, made on first use (e.g. from a future).

    Args:
        make: Called once, at the first attribute access; may block until ready.
    """

    def __init__(self, make: Callable[[], Any]) -> None:
        self._make = make
        self._made: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)
