"""Checkpoints a killed engine left unreadable (file backends): restored from a backup.

Pulumi's file backend keeps ``<stack>.json`` with a ``.json.bak`` beside it and
a history of checkpoints under ``.pulumi/history``. When the engine is killed
while writing, the checkpoint can be left empty or truncated, and every later
command fails with "failed to load checkpoint". Only when no live process holds
the stack's lock, the newest readable backup replaces it; with none, it is moved
aside (``.json.unreadable``) so the next create starts afresh and takes over
the labelled objects it finds (``pulumi.com/patchForce``).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from devservers.stacks.locks import _all_stale, engine_locks
from devservers.stacks.settings import Settings

log = logging.getLogger(__name__)


def restore_unreadable_checkpoint(settings: Settings, project: str, stack: str) -> Path | None:
    """Repairs ``stack``'s checkpoint if it is unreadable; returns the file used, else ``None``."""
    if not settings.backend.startswith("file://"):
        return None
    root = Path(settings.backend.removeprefix("file://")) / ".pulumi"
    path = root / "stacks" / project / f"{stack}.json"
    if not path.exists() or _readable(path):
        return None
    locks = engine_locks(settings, project, stack)
    if locks and not _all_stale(locks):
        return None
    history = sorted((root / "history" / project / stack).glob("*.checkpoint.json"), reverse=True)
    for candidate in (path.with_name(f"{path.name}.bak"), *history):
        if candidate.exists() and _readable(candidate):
            restored = path.with_name(f"{path.name}.restoring")
            shutil.copyfile(candidate, restored)
            restored.replace(path)  # atomic: a reader never sees half a checkpoint
            log.warning("stack %s: unreadable checkpoint restored from %s", stack, candidate.name)
            return candidate
    aside = path.with_name(f"{path.name}.unreadable")
    path.rename(aside)
    log.warning("stack %s: unreadable checkpoint with no backup moved to %s", stack, aside.name)
    return aside


def _readable(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
