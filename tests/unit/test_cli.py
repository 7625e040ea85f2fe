"""devctl through Typer's CliRunner: exit codes, messages, and nothing touched on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from clirun import run, state_files
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from typer.testing import CliRunner

from devservers.cli.main import app


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["create", "Box"], "Box"),
        (["create", "9box"], "9box"),
        (["create", "box-"], "box-"),
        (["create", "a" * 31], "a" * 31),
        (["create", "box", "-v", "data"], "data"),
        (["create", "box", "-v", "data:relative"], "relative"),
        (["create", "box", "-v", "data:/x:rx"], "data:/x:rx"),
        (["create", "box", "-v", "Data:/x"], "Data"),
        (["create", "box", "-v", "a:/data", "-v", "b:/data"], "/data"),
        (["create", "box", "--ttl", "forever"], "forever"),
        (["create", "box", "--ttl", "0m"], "0m"),
        (["create", "box", "--ttl", "30d"], "30d"),
        (["create", "box", "--flavor", "huge"], "huge"),
        (["create", "box", "--idle-timeout", ""], "idle timeout ''"),
        (["create", "box", "--idle-timeout", "1M"], "idle timeout '1M'"),
        (["create", "box", "--idle-timeout", "30s"], "shorter than 1m"),
        (["--user", "Alice", "create", "box"], "Alice"),
    ],
)
def test_bad_create_input_exits_2_names_the_value_and_touches_nothing(
    home: Path, args: list[str], named: str
) -> None:
    code, out, err = run(*args)
    assert code == 2, err
    assert named in err
    assert out == ""
    assert state_files(home) == []


def test_private_key_file_is_refused(home: Path) -> None:
    private = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    path = home / "id_ed25519"
    path.write_bytes(private)
    code, _, err = run("create", "box", "--ssh-public-key-file", str(path))
    assert code == 2
    assert "PRIVATE" in err
    assert private.decode().splitlines()[1] not in err


def test_missing_key_file_is_refused(home: Path) -> None:
    code, _, err = run("create", "box", "--ssh-public-key-file", str(home / "nope.pub"))
    assert code == 2
    assert "nope.pub" in err


def test_unknown_config_key_is_named(home: Path) -> None:
    config = home / "config" / "devctl"
    config.mkdir()
    (config / "config.yaml").write_text("backend_url: file:///tmp/x\nflavour: cpu-small\n")
    code, _, err = run("list")
    assert code == 2
    assert "flavour" in err


def test_bad_backend_url_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEVSERVERS_BACKEND_URL", "ftp://somewhere")
    code, _, err = run("list")
    assert code == 2
    assert "ftp://somewhere" in err


def test_unreachable_cluster_exits_5_naming_the_server_and_the_cause(home: Path) -> None:
    code, out, err = run("list", "-o", "json")
    assert code == 5
    assert out == ""
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert "cannot reach the API server https://127.0.0.1:9 (" in error
    assert "Connection refused" in error
    assert "HTTPSConnection" not in error


def test_unknown_context_exits_2_and_names_it(home: Path) -> None:
    code, _, err = run("--context", "elsewhere", "list")
    assert code == 2
    assert "elsewhere" in err


def test_help_teaches_volume_syntax() -> None:
    code, out, _ = run("create", "--help")
    assert code == 0
    assert "CLAIM:/PATH[:ro|:rw]" in out


def test_json_output_of_an_empty_list_is_an_empty_array(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    import devservers.stacks as stacks

    monkeypatch.setattr(stacks, "list_servers", lambda settings, all_users=False: [])
    code, out, _ = run("list", "-o", "json")
    assert code == 0
    assert json.loads(out) == []


@pytest.mark.parametrize(("args", "namespace_column"), [((), False), (("-A",), True)])
def test_list_all_users_shows_namespaces_as_kubectl_does(
    monkeypatch: pytest.MonkeyPatch, home: Path, args: tuple[str, ...], namespace_column: bool
) -> None:
    from datetime import UTC, datetime, timedelta

    import devservers.stacks as stacks
    from devservers.stacks.base.results import Server

    expiry = datetime.now(UTC) + timedelta(hours=3)
    servers = [
        Server("box", user, f"dev-{user}", f"{user}.box", "cpu-small", "Running", expiry)
        for user in ("alice", "bob")
    ]
    monkeypatch.setattr(stacks, "list_servers", lambda settings, all_users=False: servers)
    code, out, _ = run("list", *args)
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[0] == ("NAMESPACE" if namespace_column else "NAME")
    assert [row.split()[0] for row in rows] == (
        ["dev-alice", "dev-bob"] if namespace_column else ["box", "box"]
    )


def test_list_never_truncates_when_stdout_is_not_a_terminal(
    monkeypatch: pytest.MonkeyPatch, home: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    import devservers.stacks as stacks
    from devservers.stacks.base.results import Server

    name, user = "a-server-name-of-thirty-chars0", "a-user-name-of-thirty-chars-00"
    namespace, flavor = f"dev-{user}", "gpu-large-with-a-long-flavor-name"
    expiry = datetime.now(UTC) + timedelta(days=6, hours=23)
    server = Server(name, user, namespace, f"{user}.{name}", flavor, "ContainerCreating", expiry)
    monkeypatch.setattr(stacks, "list_servers", lambda settings, all_users=False: [server])
    monkeypatch.setenv("COLUMNS", "40")
    code, out, _ = run("list", "-A")
    assert code == 0
    _, row = out.splitlines()
    assert row.split()[:5] == [namespace, name, user, flavor, "ContainerCreating"]


def test_delete_without_yes_and_without_a_terminal_is_refused(home: Path) -> None:
    result = CliRunner().invoke(app, ["delete", "box"], input="y\n")
    assert result.exit_code == 2, result.stderr
    assert "--yes" in result.stderr
    assert state_files(home) == []


@pytest.mark.parametrize(("answer", "deletes"), [("n\n", False), ("\n", False), ("y\n", True)])
def test_delete_asks_on_a_terminal_and_a_no_changes_nothing(
    home: Path, monkeypatch: pytest.MonkeyPatch, answer: str, deletes: bool
) -> None:
    import devservers.stacks as stacks
    from devservers.stacks.base.results import Deleted

    deleted: list[str] = []

    def delete_server(settings: object, user: str, name: str, **_: object) -> Deleted:
        deleted.append(name)
        return Deleted(name=name, stack=f"{user}.{name}", claims_kept=(), swept=())

    monkeypatch.setattr("devservers.cli.servers.interactive", lambda: True)
    monkeypatch.setattr(stacks, "delete_server", delete_server)
    result = CliRunner().invoke(app, ["delete", "box"], input=answer)
    assert result.exit_code == 0, result.stderr
    assert deleted == (["box"] if deletes else [])
    assert ("not deleted" in result.stderr) != deletes


def test_an_api_server_that_never_answers_fails_a_command_within_the_bound_its_message_names(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket
    import time

    from devservers.stacks.kube import cluster

    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    port = silent.getsockname()[1]
    (home / "kubeconfig").write_text(
        (home / "kubeconfig").read_text().replace("https://127.0.0.1:9", f"http://127.0.0.1:{port}")
    )
    monkeypatch.setattr(cluster, "REQUEST_TIMEOUT_SECONDS", 1)
    began = time.monotonic()
    with silent:
        code, out, err = run("list", "-o", "json")
    took = time.monotonic() - began
    print(f"devctl list against a silent API server: exit {code} after {took:.1f}s")
    assert code == 5
    assert out == ""
    (error,) = [line for line in err.splitlines() if line.startswith("error: ")]
    assert f"the API server http://127.0.0.1:{port} did not answer within 1 s" in error
