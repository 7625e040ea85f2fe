"""Checkpoints a killed engine left unreadable (file backends): repaired before use.

Pulumi's file backend keeps ``<stack>.json`` with a ``.json.bak`` beside it and
a history of checkpoints under ``.pulumi/history``. Each blob has a metadata
sidecar, ``<blob>.attrs``, which gocloud's fileblob rewrites in place (create,
then write), unlike the blob itself (a temporary file renamed over it). An
engine killed between the two leaves the sidecar empty, and every later read
of the blob fails with "failed to load checkpoint: EOF". Only when no live
process holds the stack's lock:

* an unparsable sidecar is removed (fileblob reads a missing one as defaults);
* an unparsable checkpoint is replaced by the newest readable backup; with
  none, it is moved aside (``.json.unreadable``) so the next create starts
  afresh and takes over the labelled objects it finds (``pulumi.com/patchForce``).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from devservers.stacks.base.settings import Settings
from devservers.stacks.engine.locks import _all_stale, engine_locks

log = logging.getLogger(__name__)


def restore_unreadable_checkpoint(settings: Settings, project: str, stack: str) -> Path | None:
    """Repairs ``stack``'s checkpoint files if any is unreadable.

    Returns:
        The backup the checkpoint was restored from, or the path it was moved
        aside to; ``None`` when the checkpoint itself was readable (broken
        sidecars may still have been removed) or a live process holds the lock.
    """
    root = settings.file_backend_dir
    if root is None:
        return None
    path = root / "stacks" / project / f"{stack}.json"
    if not path.exists():
        return None
    history_dir = root / "history" / project / stack
    sidecars = [*path.parent.glob(f"{path.name}*.attrs"), *history_dir.glob("*.attrs")]
    broken = [sidecar for sidecar in sidecars if not _readable(sidecar)]
    readable = _readable(path)
    if readable and not broken:
        return None
    locks = engine_locks(settings, project, stack)
    if locks and not _all_stale(locks):
        return None
    for sidecar in broken:
        sidecar.unlink(missing_ok=True)
        log.warning("stack %s: unreadable metadata file %s removed", stack, sidecar.name)
    if readable:
        return None
    history = sorted(history_dir.glob("*.checkpoint.json"), reverse=True)
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


def checkpoint_set_aside(settings: Settings, project: str, stack: str) -> bool:
    """Whether an unreadable checkpoint of ``stack`` was moved aside (file backends)."""
    root = settings.file_backend_dir
    return root is not None and (root / "stacks" / project / f"{stack}.json.unreadable").exists()


def _readable(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
