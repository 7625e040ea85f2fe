"""devctl extend / stop / start through CliRunner: exit codes on bad input, nothing touched."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from clirun import run, state_files
from pulumi import automation as auto
from pulumi.automation._cmd import CommandResult

from devservers.components.catalog import BUILTIN_FLAVORS
from devservers.components.specs import DevServerSpec, VolumeSpec
from devservers.stacks import lifecycle
from devservers.stacks.engine import workspace
from devservers.stacks.engine.hostkeys import generate_host_keys
from devservers.stacks.engine.programs import ServerState


@pytest.mark.parametrize(
    ("by", "named"),
    [
        ("-1h", "-1h"),
        ("0m", "0m"),
        ("0", "0"),
        ("2x", "2x"),
        ("soon", "soon"),
        ("1h-", "1h-"),
        ("8d", "8d"),  # over the default maximum of 7d, whatever the expiry
        ("", "''"),
    ],
)
def test_bad_extension_exits_2_names_it_and_touches_nothing(
    home: Path, by: str, named: str
) -> None:
    code, out, err = run("extend", "box", "--by", by)
    assert code == 2, err
    assert named in err
    assert out == ""
    assert state_files(home) == []


@pytest.mark.parametrize(
    "args", [["extend", "Box", "--by", "1h"], ["stop", "9box"], ["start", "a" * 31]]
)
def test_bad_server_name_exits_2_and_touches_nothing(home: Path, args: list[str]) -> None:
    code, out, err = run(*args)
    assert code == 2, err
    assert args[1] in err
    assert state_files(home) == []


def test_extend_needs_by(home: Path) -> None:
    code, _, err = run("extend", "box")
    assert code == 2
    assert "--by" in err


@pytest.mark.parametrize(
    "args",
    [
        ["extend", "nope", "--by", "1h"],
        ["stop", "nope"],
        ["start", "nope"],
        ["delete", "nope", "--yes"],
        ["repair", "nope"],
    ],
)
def test_unknown_server_exits_3(
    home: Path, monkeypatch: pytest.MonkeyPatch, args: list[str]
) -> None:
    def no_such_stack(settings: Any, stack: str, program: Any = None) -> Any:
        raise auto.StackNotFoundError(CommandResult("", f"no stack named '{stack}' found", 255))

    monkeypatch.setattr(workspace, "select_stack", no_such_stack)
    code, out, err = run(*args)
    assert code == 3, err
    assert "DevServer 'nope' of user 'alice' does not exist" in err
    assert out == ""


def _state(expiry: datetime, replicas: int, public_key: str) -> ServerState:
    spec = DevServerSpec(
        name="box",
        user="alice",
        namespace="dev-alice",
        flavor=BUILTIN_FLAVORS[0],
        volumes=(VolumeSpec.parse("datasets:/data"),),
        ssh_public_keys=(public_key,),
        image="img",
        expiry=expiry,
    )
    return ServerState(spec, replicas, generate_host_keys(), "cluster")


@pytest.fixture
def existing(monkeypatch: pytest.MonkeyPatch, make_public_key) -> Callable[..., None]:
    """Pretends alice.box exists, expiring after the given time; fails on any update."""

    def no_update(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the stack must not be updated")

    def put(expires_in: timedelta, replicas: int, public_key: str | None = None) -> None:
        state = _state(datetime.now(UTC) + expires_in, replicas, public_key or make_public_key())
        opened = (None, state, 0)
        monkeypatch.setattr(lifecycle, "open_server", lambda settings, stack, name: opened)

    monkeypatch.setattr(lifecycle, "apply_state", no_update)
    return put


def test_extension_past_the_maximum_from_now_exits_2(
    home: Path, existing: Callable[[timedelta, int], None]
) -> None:
    existing(timedelta(days=6), 1)
    code, _, err = run("extend", "box", "--by", "2d")
    assert code == 2, err
    assert "past the maximum of 7d from now" in err


def test_start_after_expiry_is_refused_with_the_reason(
    home: Path, existing: Callable[[timedelta, int], None]
) -> None:
    existing(-timedelta(minutes=5), 0)
    code, out, err = run("start", "box")
    assert code == 2, err
    assert "expired at" in err
    assert "devctl extend box" in err
    assert out == ""


def _running_described(monkeypatch: pytest.MonkeyPatch) -> None:
    """``describe`` of alice.box finds it Running (after an operation that changed nothing)."""
    from devservers.stacks.base.results import Server, ServerDetails

    server = Server(
        "box", "alice", "dev-alice", "alice.box", "cpu-small", "Running", datetime.now(UTC)
    )
    details = ServerDetails(server, "box-ssh", (), {})
    monkeypatch.setattr(lifecycle, "describe_server", lambda settings, user, name, **_: details)


def test_start_of_a_running_server_says_so_and_changes_nothing(
    home: Path, existing: Callable[[timedelta, int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    existing(-timedelta(minutes=5), 1)  # expired, but running: the reaper's to handle
    _running_described(monkeypatch)

    code, out, err = run("start", "box", "-o", "json")

    assert code == 0, err
    assert "box is already running" in err
    assert '"status": "Running"' in out


def _catalog(home: Path, monkeypatch: pytest.MonkeyPatch, **cpu_small: Any) -> None:
    """A flavors file: the built-in catalog with ``cpu-small`` changed (dropped: ``name=None``)."""
    import yaml

    flavors = [f.model_dump(mode="json") for f in BUILTIN_FLAVORS[1:]]
    if cpu_small != {"name": None}:
        flavors.insert(0, {**BUILTIN_FLAVORS[0].model_dump(mode="json"), **cpu_small})
    flavors[0]["default"] = True
    (home / "flavors.yaml").write_text(yaml.safe_dump(flavors))
    monkeypatch.setenv("DEVSERVERS_FLAVORS_FILE", str(home / "flavors.yaml"))


def test_update_of_a_server_whose_flavor_is_unchanged_says_so_and_changes_nothing(
    home: Path, existing: Callable[[timedelta, int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    existing(timedelta(hours=1), 1)
    _catalog(home, monkeypatch, description="renamed")  # not a change of the pod
    _running_described(monkeypatch)

    code, out, err = run("update", "box", "-o", "json")

    assert code == 0, err
    assert "box already has flavor cpu-small as the catalog defines it; nothing changed" in err
    assert json.loads(out)["changes"] == []


@pytest.mark.parametrize(
    ("cpu_small", "code", "named"),
    [
        ({"name": None}, 2, "flavor 'cpu-small' of DevServer 'box' is no longer in the catalog"),
        (
            {"memory_limit": "16Gi", "default_volumes": [{"claim": "m", "mount_path": "/data"}]},
            2,
            "volumes datasets:/data and m:/data mount the same path",
        ),
        (
            {"default_volumes": [{"claim": "models", "mount_path": "/models"}]},
            3,
            "claim(s) models do not exist in namespace dev-alice",
        ),
    ],
)
def test_update_to_a_flavor_definition_that_does_not_fit_exits_and_changes_nothing(
    home: Path,
    existing: Callable[[timedelta, int], None],
    monkeypatch: pytest.MonkeyPatch,
    cpu_small: dict[str, Any],
    code: int,
    named: str,
) -> None:
    from devservers.stacks.kube.cluster import Cluster

    existing(timedelta(hours=1), 1)
    _catalog(home, monkeypatch, **cpu_small)
    monkeypatch.setattr(
        Cluster, "missing_claims", lambda self, ns, claims: sorted(claims - {"datasets"})
    )

    exit_code, out, err = run("update", "box")

    assert exit_code == code, err
    assert named in err
    assert out == ""


@pytest.mark.parametrize("text", ["not a key\n", "", "ssh-ed25519 AAAA-not-base64 me\n"])
def test_update_with_a_key_file_without_a_valid_key_exits_2_and_touches_nothing(
    home: Path, tmp_path: Path, existing: Callable[..., None], text: str
) -> None:
    existing(timedelta(hours=1), 1)
    bad = tmp_path / "bad.pub"
    bad.write_text(text)

    code, out, err = run("update", "box", "--ssh-public-key-file", str(bad))

    assert code == 2, err
    assert str(bad) in err
    assert out == ""
    assert state_files(home) == []


def test_update_with_a_key_file_that_does_not_exist_exits_2(
    home: Path, tmp_path: Path, existing: Callable[..., None]
) -> None:
    existing(timedelta(hours=1), 1)
    code, _, err = run("update", "box", "--ssh-public-key-file", str(tmp_path / "gone.pub"))
    assert code == 2, err
    assert "gone.pub" in err


def test_update_with_the_keys_the_server_has_says_so_and_changes_nothing(
    home: Path,
    tmp_path: Path,
    existing: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    make_public_key: Callable[..., str],
) -> None:
    key = make_public_key("ed25519", "me@laptop")
    existing(timedelta(hours=1), 1, key)
    _running_described(monkeypatch)
    (tmp_path / "me.pub").write_text(key + "\n")

    code, out, err = run(
        "update", "box", "--ssh-public-key-file", str(tmp_path / "me.pub"), "-o", "json"
    )

    assert code == 0, err
    assert "box already authorizes exactly these 1 keys; nothing changed" in err
    assert json.loads(out)["server"]["name"] == "box"
