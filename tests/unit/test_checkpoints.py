"""A checkpoint a killed engine left empty is restored from its backup, never silently lost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devservers.stacks import load_settings
from devservers.stacks.checkpoints import restore_unreadable_checkpoint


def backend(tmp_path: Path):
    settings = load_settings(tmp_path / "none.yaml", backend_url=f"file://{tmp_path}", user="alice")
    stacks = tmp_path / ".pulumi" / "stacks" / "devservers"
    stacks.mkdir(parents=True)
    return settings, stacks / "alice.box.json"


def test_empty_checkpoint_is_restored_from_the_backup(tmp_path: Path) -> None:
    settings, path = backend(tmp_path)
    good = {"version": 3, "checkpoint": {"stack": "alice.box"}}
    path.write_text("")
    path.with_name("alice.box.json.bak").write_text(json.dumps(good))
    assert restore_unreadable_checkpoint(settings, "devservers", "alice.box") is not None
    assert json.loads(path.read_text()) == good


def test_unreadable_checkpoint_without_backup_is_moved_aside(tmp_path: Path) -> None:
    settings, path = backend(tmp_path)
    path.write_text('{"version": 3, "check')
    restore_unreadable_checkpoint(settings, "devservers", "alice.box")
    assert not path.exists()
    assert path.with_name("alice.box.json.unreadable").read_text() == '{"version": 3, "check'


def test_readable_checkpoint_is_left_alone(tmp_path: Path) -> None:
    settings, path = backend(tmp_path)
    path.write_text('{"version": 3}')
    path.with_name("alice.box.json.bak").write_text('{"version": 2}')
    assert restore_unreadable_checkpoint(settings, "devservers", "alice.box") is None
    assert path.read_text() == '{"version": 3}'


def test_an_operation_meeting_an_unreadable_checkpoint_runs_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devservers.stacks import engine
    from devservers.stacks.errors import ProvisionError

    monkeypatch.setattr(engine, "RETRY_AFTER_SECONDS", 0)
    calls: list[str] = []

    @engine.retry_unreadable_checkpoint
    def operation(fail: list[Exception]) -> str:
        calls.append("run")
        if fail:
            raise fail.pop(0)
        return "done"

    assert operation([engine.UnreadableCheckpoint("failed to load checkpoint: EOF")]) == "done"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(engine.UnreadableCheckpoint):
        operation([engine.UnreadableCheckpoint("a"), engine.UnreadableCheckpoint("b")])
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ProvisionError):
        operation([ProvisionError("boom")])
    assert calls == ["run"], "other failures are not repeated"
