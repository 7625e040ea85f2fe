"""A quiet, kubectl-shaped devctl: one progress line per object, global options anywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from clirun import run
from pulumi.automation import events

from devservers.stacks.engine.progress import RawOutput, StepLines, engine_output

STACK_URN = "urn:pulumi:alice.box::devservers::pulumi:pulumi:Stack::devservers-alice.box"


def step(kind: str, op: str, typ: str, name: str, custom: bool = True) -> events.EngineEvent:
    urn = f"urn:pulumi:alice.box::devservers::devservers:index:DevServer${typ}::{name}"
    state = {"type": typ, "urn": urn, "id": "", "parent": "", "provider": "", "custom": custom}
    metadata = {"op": op, "urn": urn, "type": typ, "provider": "", "new": state}
    return events.EngineEvent.from_json(
        {"sequence": 1, "timestamp": 0, kind: {"metadata": metadata}}
    )


def create_events() -> list[events.EngineEvent]:
    """What the engine reports for a create: each object planned, then done; components too."""
    objects = [
        ("kubernetes:core/v1:Secret", "box-host-keys"),
        ("kubernetes:core/v1:ConfigMap", "box-sshd"),
        ("kubernetes:apps/v1:Deployment", "box"),
    ]
    found: list[events.EngineEvent] = [
        step("resourcePreEvent", "create", "pulumi:pulumi:Stack", "devservers-alice.box", False),
        step("resOutputsEvent", "create", "pulumi:providers:kubernetes", "cluster"),
        step("resOutputsEvent", "create", "devservers:index:DevServer", "box", custom=False),
    ]
    for typ, name in objects:
        found += [step("resourcePreEvent", "create", typ, name)]
    found += [step("resOutputsEvent", "create", typ, name) for typ, name in objects]
    found += [step("resOutputsEvent", "same", "kubernetes:core/v1:Service", "box-ssh")]
    found += [step("resOpFailedEvent", "update", "kubernetes:core/v1:Secret", "box-keys")]
    summary = {"maybeCorrupt": False, "durationSeconds": 4, "resourceChanges": {"create": 6}}
    found += [
        events.EngineEvent.from_json(
            {"sequence": 9, "timestamp": 0, "summaryEvent": {**summary, "policyPacks": {}}}
        )
    ]
    return found


def test_one_line_per_object_step_and_one_summary() -> None:
    lines: list[str] = []
    on_event = engine_output(lines.append, "alice.box")["on_event"]

    for event in create_events():
        on_event(event)

    assert lines == [
        "secret/box-host-keys created",
        "configmap/box-sshd created",
        "deployment/box created",
        "secret/box-keys failed",
        "alice.box: 3 created, 1 failed (4s)",
    ]
    assert isinstance(on_event, StepLines)


def test_debug_gets_the_engine_s_own_output_and_quiet_nothing() -> None:
    raw = RawOutput(print)

    assert engine_output(None, "alice.box") == {}
    assert engine_output(raw, "alice.box") == {"on_output": raw}
    kept = engine_output(raw, "alice.box", keep=lambda line: "advice" not in line)["on_output"]
    assert kept is not raw


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch, home: Path) -> dict[str, Any]:
    """Records the settings and options ``devctl list`` ran with."""
    import devservers.stacks as stacks

    found: dict[str, Any] = {}

    def list_servers(settings: Any, all_users: bool = False) -> list[Any]:
        found.update(user=settings.user, context=settings.context, all_users=all_users)
        return []

    monkeypatch.setattr(stacks, "list_servers", list_servers)
    return found


@pytest.mark.parametrize(
    "args",
    [
        ["--user", "bob", "list", "-A"],
        ["list", "--user", "bob", "-A"],
        ["list", "-A", "--user=bob"],
        ["list", "-q", "-A", "--user", "bob", "--debug"],
    ],
)
def test_global_options_work_after_the_command_as_in_kubectl(
    seen: dict[str, Any], args: list[str]
) -> None:
    code, out, err = run(*args, "-o", "json")

    assert code == 0, err
    assert out.strip() == "[]"
    assert (seen["user"], seen["all_users"]) == ("bob", True)


def test_options_after_double_dash_stay_the_remote_command_s() -> None:
    from typer.main import get_command

    from devservers.cli.errors import hoist_options
    from devservers.cli.main import app

    params = get_command(app).params

    assert hoist_options(["ssh", "box", "-q", "--", "ls", "-q", "--user", "x"], params) == [
        "-q",
        "ssh",
        "box",
        "--",
        "ls",
        "-q",
        "--user",
        "x",
    ]


def test_list_wide_adds_resources_node_image_and_age(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    import devservers.stacks as stacks
    from devservers.stacks.base.results import Server

    now = datetime.now(UTC)
    box = Server(
        "box",
        "alice",
        "dev-alice",
        "alice.box",
        "gpu-small",
        "Running",
        now + timedelta(hours=3),
        created=now - timedelta(hours=5),
        image="reg/devserver:1",
        cpu="1-2",
        memory="4Gi-8Gi",
        gpus="1",
        node="kwok-gpu-0",
    )
    asked: list[dict[str, Any]] = []

    def list_servers(settings: Any, **options: Any) -> list[Server]:
        asked.append(options)
        return [box]

    monkeypatch.setattr(stacks, "list_servers", list_servers)
    code, out, err = run("ls", "-o", "wide")

    assert code == 0, err
    header, row = out.splitlines()
    assert header.split()[-6:] == ["CPU", "MEMORY", "GPUS", "NODE", "IMAGE", "AGE"]
    assert row.split()[-6:] == ["1-2", "4Gi-8Gi", "1", "kwok-gpu-0", "reg/devserver:1", "5h"]
    assert asked == [{"all_users": False, "wide": True}]
    code, out, _ = run("list")
    assert "NODE" not in out and asked[-1] == {"all_users": False}


@pytest.mark.parametrize(("flag", "code"), [([], 3), (["--ignore-not-found"], 0)])
def test_delete_ignore_not_found_exits_0_for_a_missing_server(
    home: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], code: int
) -> None:
    import devservers.stacks as stacks
    from devservers.stacks.base.errors import server_not_found

    def delete_server(settings: Any, user: str, name: str, **_: Any) -> Any:
        raise server_not_found(f"{user}.{name}")

    monkeypatch.setattr(stacks, "delete_server", delete_server)
    exit_code, out, err = run("rm", "nope", "--yes", *flag)

    assert exit_code == code, err
    assert out == ""
    assert ("does not exist" in err) == (code == 3)


@pytest.mark.parametrize(
    ("status", "quiet", "line"),
    [
        ("Running", [], "connect: devctl ssh box\n"),
        ("Pending", [], "connect once Ready: devctl ssh box\n"),
        ("Running", ["-q"], None),
    ],
)
def test_create_ends_with_the_next_step_on_stderr(
    home: Path, monkeypatch: pytest.MonkeyPatch, status: str, quiet: list[str], line: str | None
) -> None:
    from datetime import UTC, datetime, timedelta

    import devservers.stacks as stacks
    from devservers.stacks.base.results import Server, ServerDetails

    def create_server(settings: Any, spec: Any, **_: Any) -> ServerDetails:
        expiry = datetime.now(UTC) + timedelta(hours=1)
        server = Server("box", "alice", "dev-alice", "alice.box", "cpu-small", status, expiry)
        return ServerDetails(server, "box-ssh", (), {})

    monkeypatch.setattr(stacks, "create_server", create_server)
    code, out, err = run("create", "box", "-o", "json", *quiet)

    assert code == 0, err
    assert f'"status": "{status}"' in out
    assert "devctl ssh" not in out
    assert err.endswith(line) if line else "devctl ssh" not in err, err
