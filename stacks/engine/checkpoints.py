"""Checkpoints a killed engine or a failed write left unreadable (file backends).

Pulumi's file backend keeps ``<stack>.json`` with a ``.json.bak`` beside it and
a history of checkpoints under ``.pulumi/history``. Each blob has a metadata
sidecar, ``<blob>.attrs``, which gocloud's fileblob rewrites in place (create,
then write), unlike the blob itself (a temporary file renamed over it). An
engine killed between the two leaves the sidecar empty, and every later read
of the blob fails with "failed to load checkpoint: EOF". A write that fails
(a full disk: ``no space left on device``) still renames its short temporary
file over the blob, and the backup is written the same way first, so the
checkpoint and its backup can both end up cut short.

Hence, before each operation, :func:`keep_checkpoint` hard-links the stack's
readable checkpoint to ``<stack>.json.previous``: the engine's rename replaces
the name ``<stack>.json``, never that file, and a link needs no free space.
Only when no live process holds the stack's lock:

* an unparsable sidecar is removed (fileblob reads a missing one as defaults);
* an unparsable checkpoint is replaced by the newest readable one of its
  backup, its history and the one kept before the operation; with none, it
  is moved aside (``.json.unreadable``) so the next create starts afresh and
  takes over the labelled objects it finds (``pulumi.com/patchForce``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
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
    backup, kept = path.with_name(f"{path.name}.bak"), path.with_name(f"{path.name}.{KEPT}")
    for candidate in (backup, *history, kept):
        if candidate.exists() and _readable(candidate):
            _place(candidate, path)
            log.warning("stack %s: unreadable checkpoint restored from %s", stack, candidate.name)
            return candidate
    aside = path.with_name(f"{path.name}.unreadable")
    path.rename(aside)
    log.warning("stack %s: unreadable checkpoint with no backup moved to %s", stack, aside.name)
    return aside


@contextlib.contextmanager
def restored_on_failure(settings: Settings, project: str, stack: str) -> Iterator[None]:
    """Repairs ``stack``'s checkpoint as soon as the block fails, not at the next command.

    A failed write leaves the checkpoint readable again once the engine has
    exited (see :func:`restore_unreadable_checkpoint`); the block's error is
    raised unchanged.
    """
    try:
        yield
    except Exception:
        with contextlib.suppress(OSError):  # the disk may still be full: the next command retries
            restore_unreadable_checkpoint(settings, project, stack)
        raise


def keep_checkpoint(settings: Settings, project: str, stack: str) -> None:
    """Hard-links ``stack``'s checkpoint to ``<stack>.json.previous`` if it is readable.

    What a later failed write of the engine cuts short can be restored from
    it (:func:`restore_unreadable_checkpoint`). A file system that refuses
    the link keeps no copy (logged).
    """
    root = settings.file_backend_dir
    if root is None:
        return
    path = root / "stacks" / project / f"{stack}.json"
    if path.exists() and _readable(path):
        try:
            _place(path, path.with_name(f"{path.name}.{KEPT}"), copy=False)
        except OSError as exc:
            log.warning("stack %s: checkpoint not kept before the operation: %s", stack, exc)


def forget_kept_checkpoint(settings: Settings, project: str, stack: str) -> None:
    """Removes the checkpoint :func:`keep_checkpoint` kept of a removed ``stack``."""
    root = settings.file_backend_dir
    if root is not None:
        (root / "stacks" / project / f"{stack}.json.{KEPT}").unlink(missing_ok=True)


def checkpoint_set_aside(settings: Settings, project: str, stack: str) -> bool:
    """Whether an unreadable checkpoint of ``stack`` was moved aside (file backends)."""
    root = settings.file_backend_dir
    return root is not None and (root / "stacks" / project / f"{stack}.json.unreadable").exists()


KEPT = "previous"
"""Suffix of the checkpoint kept before an operation (``<stack>.json.previous``)."""


def _place(source: Path, target: Path, copy: bool = True) -> None:
    """Puts ``source``'s content at ``target`` by one rename (a reader never sees half of it).

    A hard link where the file system allows it (no space needed, even on a
    full disk), else a copy when ``copy``.
    """
    if target.exists() and target.samefile(source):
        return  # already one file (a rename between two links of it would do nothing)
    staged = target.with_name(f"{target.name}.placing")
    staged.unlink(missing_ok=True)
    try:
        os.link(source, staged)
    except OSError:
        if not copy:
            raise
        shutil.copyfile(source, staged)
    staged.replace(target)


def _readable(path: Path) -> bool:
    try:
        return bool(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, ValueError):
        return False
