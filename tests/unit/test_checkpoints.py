"""A checkpoint (or its sidecar) a killed engine left empty is repaired, never silently lost."""

from __future__ import annotations

import json
import os
import socket
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devservers.stacks import load_settings
from devservers.stacks.engine.checkpoints import restore_unreadable_checkpoint


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


ATTRS = '{"user.content_type":"application/octet-stream","md5":"AAAA"}\n'


def test_empty_sidecar_is_removed_and_the_checkpoint_kept(tmp_path: Path) -> None:
    settings, path = backend(tmp_path)
    path.write_text('{"version": 3}')
    path.with_name("alice.box.json.attrs").write_text("")
    path.with_name("alice.box.json.bak.attrs").write_text(ATTRS)
    history = tmp_path / ".pulumi" / "history" / "devservers" / "alice.box"
    history.mkdir(parents=True)
    (history / "alice.box-1.checkpoint.json.attrs").write_text('{"user.content')

    assert restore_unreadable_checkpoint(settings, "devservers", "alice.box") is None
    assert not path.with_name("alice.box.json.attrs").exists()
    assert not (history / "alice.box-1.checkpoint.json.attrs").exists()
    assert path.with_name("alice.box.json.bak.attrs").read_text() == ATTRS
    assert path.read_text() == '{"version": 3}'


def test_nothing_is_repaired_while_a_live_process_holds_the_lock(tmp_path: Path) -> None:
    settings, path = backend(tmp_path)
    path.write_text("")
    path.with_name("alice.box.json.attrs").write_text("")
    path.with_name("alice.box.json.bak").write_text('{"version": 3}')
    locks = tmp_path / ".pulumi" / "locks" / "organization" / "devservers" / "alice.box"
    locks.mkdir(parents=True)
    held = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    (locks / "a.json").write_text(json.dumps(held))

    assert restore_unreadable_checkpoint(settings, "devservers", "alice.box") is None
    assert path.read_text() == ""
    assert path.with_name("alice.box.json.attrs").exists()


def test_an_operation_meeting_an_unreadable_checkpoint_runs_once_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from devservers.stacks.base.errors import ProvisionError
    from devservers.stacks.engine import failures

    monkeypatch.setattr(failures, "RETRY_AFTER_SECONDS", 0)
    calls: list[str] = []

    @failures.retry_unreadable_checkpoint
    def operation(fail: list[Exception]) -> str:
        calls.append("run")
        if fail:
            raise fail.pop(0)
        return "done"

    assert operation([failures.UnreadableCheckpoint("failed to load checkpoint: EOF")]) == "done"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(failures.UnreadableCheckpoint):
        operation([failures.UnreadableCheckpoint("a"), failures.UnreadableCheckpoint("b")])
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(ProvisionError):
        operation([ProvisionError("boom")])
    assert calls == ["run"], "other failures are not repeated"


def test_an_engine_failure_shows_the_reasons_listed_under_errors_occurred() -> None:
    from pulumi import automation as auto
    from pulumi.automation._cmd import CommandResult

    from devservers.stacks.base.errors import ProvisionError
    from devservers.stacks.engine import failures

    stderr = (
        " ~  kubernetes:apps/v1:Deployment h1 update ; error: Preview failed: 1 error occurred:\n"
        '    \t* Deployment.apps "h1" is invalid: spec.selector: field is immutable\n'
        "    error: preview failed\n"
    )
    with pytest.raises(ProvisionError) as failed, failures.engine_errors("alice.h1", "repair"):
        raise auto.CommandError(CommandResult("", stderr, 255))
    assert 'Deployment.apps "h1" is invalid' in failed.value.message
    assert failed.value.hint and "then run 'devctl repair h1'" in failed.value.hint


def cut_short(path: Path) -> None:
    """What a write on a full disk does: a short temporary file renamed over ``path``."""
    partial = path.with_name(f"{path.name}.123.tmp")
    partial.write_text('{"version": 3, "checkpoint": {"sta')
    partial.replace(path)


def test_a_write_that_cut_the_checkpoint_and_its_backup_short_leaves_the_kept_one(
    tmp_path: Path,
) -> None:
    from devservers.stacks.engine.checkpoints import keep_checkpoint

    settings, path = backend(tmp_path)
    good = {"version": 3, "checkpoint": {"stack": "alice.box", "latest": None}}
    path.write_text(json.dumps(good))
    keep_checkpoint(settings, "devservers", "alice.box")  # before the operation
    cut_short(path.with_name("alice.box.json.bak"))
    cut_short(path)

    restore_unreadable_checkpoint(settings, "devservers", "alice.box")

    assert json.loads(path.read_text()) == good
    assert not path.with_name("alice.box.json.unreadable").exists()


def test_empty_lock_files_of_a_failed_write_are_removed_live_ones_kept(tmp_path: Path) -> None:
    from devservers.stacks.base.errors import Busy
    from devservers.stacks.engine.locks import clear_stale_engine_locks

    settings, _ = backend(tmp_path)
    locks = tmp_path / ".pulumi" / "locks" / "organization" / "devservers" / "alice.box"
    locks.mkdir(parents=True)
    failed = locks / "c18b.json.18ed85699f6e843a.tmp"
    failed.write_text("")
    os.utime(failed, (0, 0))
    writing = locks / "d29c.json.28ed85699f6e843a.tmp"  # just created: being written
    writing.write_text("")
    held = {
        "pid": os.getpid(),
        "hostname": socket.gethostname(),
        "timestamp": datetime.now(UTC).isoformat(),
    }
    live = locks / "e3ad.json"
    live.write_text(json.dumps(held))
    os.utime(live, (0, 0))

    with pytest.raises(Busy, match="locked by a running operation"):
        clear_stale_engine_locks(settings, "devservers", "alice.box", 0)

    assert not failed.exists()
    assert writing.exists()
    assert live.exists()


def test_an_update_over_an_object_deleted_by_hand_names_repair() -> None:
    from pulumi import automation as auto
    from pulumi.automation._cmd import CommandResult

    from devservers.stacks.base.errors import ProvisionError
    from devservers.stacks.engine import failures

    stderr = (
        " ~  kubernetes:apps/v1:Deployment box update ; error: Preview failed: update of resource "
        '"urn:pulumi:alice.box::devservers::devservers:index:DevServer$kubernetes:apps/v1:'
        'Deployment::box" failed: deployments.apps "box" not found\n'
        "    error: preview failed\n"
    )
    with pytest.raises(ProvisionError) as failed, failures.engine_errors("alice.box", "update"):
        raise auto.CommandError(CommandResult("", stderr, 255))
    assert failed.value.hint and "'devctl repair box'" in failed.value.hint


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "devctl used devctl's own passphrase file"),
        ({"PULUMI_CONFIG_PASSPHRASE": "team"}, "unset PULUMI_CONFIG_PASSPHRASE to use it"),
        ({"PULUMI_CONFIG_PASSPHRASE_FILE": "/t"}, "unset PULUMI_CONFIG_PASSPHRASE_FILE to use it"),
    ],
)
def test_a_wrong_passphrase_names_the_one_devctl_used_and_its_own_file(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], named: str
) -> None:
    from pulumi import automation as auto
    from pulumi.automation._cmd import CommandResult

    from devservers.stacks.base.errors import ProvisionError
    from devservers.stacks.engine.failures import engine_errors

    for var in ("PULUMI_CONFIG_PASSPHRASE", "PULUMI_CONFIG_PASSPHRASE_FILE"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    text = (
        "error: getting stack configuration: incorrect passphrase, please set "
        "PULUMI_CONFIG_PASSPHRASE to the correct passphrase"
    )

    with pytest.raises(ProvisionError) as raised, engine_errors("alice.box", "update"):
        raise auto.CommandError(CommandResult("", text, 255))

    assert named in (raised.value.hint or "")
    assert "passphrase in devctl's config directory" in (raised.value.hint or "")
