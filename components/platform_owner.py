"""Which platform stack owns a namespace: its annotations and the rule. Pure data, no I/O.

Every namespace the platform makes records the stack that made it; the other
objects of the platform live in those namespaces or are named after them
(the reaper's ClusterRole after the system namespace, a user's after the
user). A platform stack takes over no namespace another platform stack
recorded: two stacks applying the same objects would fight over their fields
(server-side apply conflicts) and destroy each other's objects.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devservers.components.labels import PREFIX

STACK = f"{PREFIX}/platform-stack"
"""Annotation: the fully qualified name of the owning stack (``org/project/stack``)."""
BACKEND = f"{PREFIX}/platform-backend"
"""Annotation: the owning stack's state backend URL (password redacted), when known."""


@dataclass(frozen=True)
class PlatformOwner:
    """A platform stack, as recorded on the namespaces it made.

    Attributes:
        stack: Fully qualified stack name (``organization/devservers-platform/prod``).
        backend: Its state backend URL (``file://…``, ``postgres://user:***@…``),
            or ``None`` when not known.
    """

    stack: str
    backend: str | None = None

    def annotations(self) -> dict[str, str]:
        """The annotations recording this owner (mapping of key → value)."""
        return {STACK: self.stack, **({BACKEND: self.backend} if self.backend else {})}

    def describe(self) -> str:
        """``org/project/stack (backend URL)``, for messages."""
        return self.stack + (f" (backend {self.backend})" if self.backend else "")

    def is_same(self, other: PlatformOwner) -> bool:
        """Whether ``other`` is this stack: same name, and same backend where both are known."""
        if self.stack != other.stack:
            return False
        return self.backend is None or other.backend is None or self.backend == other.backend


def recorded_owner(annotations: Mapping[str, str] | None) -> PlatformOwner | None:
    """The owner an object's annotations record, or ``None`` (made before owners were recorded)."""
    stack = (annotations or {}).get(STACK)
    return PlatformOwner(stack, (annotations or {}).get(BACKEND)) if stack else None


def foreign_namespaces(
    namespaces: Iterable[Mapping[str, Any]], wanted: Iterable[str], me: PlatformOwner
) -> dict[str, PlatformOwner]:
    """The namespaces of ``wanted`` that another platform stack owns.

    Args:
        namespaces: Namespace objects as Kubernetes JSON (``metadata.name``,
            ``metadata.annotations``).
        wanted: Names of the namespaces this stack declares.
        me: This stack.

    Returns:
        Mapping of namespace name → its recorded owner, sorted by name. A
        namespace without a recorded owner is not in it: it is adopted.
    """
    names = set(wanted)
    found: dict[str, PlatformOwner] = {}
    for item in namespaces:
        meta = item.get("metadata", {})
        owner = recorded_owner(meta.get("annotations"))
        if meta.get("name") in names and owner is not None and not me.is_same(owner):
            found[meta["name"]] = owner
    return dict(sorted(found.items()))
