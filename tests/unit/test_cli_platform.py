"""devctl flavors / create / admin against a platform catalog (cluster reads replaced)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from devservers.cli.main import app
from devservers.components.catalog import encode_flavor
from devservers.components.specs import FlavorSpec
from devservers.stacks.admin import render_kubeconfig
from devservers.stacks.base.errors import Forbidden
from devservers.stacks.kube.cluster import Cluster

TINY = FlavorSpec(
    name="tiny", cpu_request="1", cpu_limit="1", memory_request="1Gi", memory_limit="1Gi"
)
HUGE = TINY.model_copy(update={"name": "huge", "memory_request": "8Ti", "memory_limit": "8Ti"})


@pytest.fixture
def platform(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_public_key) -> dict[str, Any]:
    """A hermetic devctl whose cluster publishes a catalog (tiny is the default) and no nodes."""
    for var in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    for var in ("DEVSERVERS_CONFIG", "DEVSERVERS_FLAVORS_FILE", "DEVSERVERS_PLATFORM_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DEVSERVERS_USER", "alice")
    key = tmp_path / "id.pub"
    key.write_text(make_public_key("ed25519", "a@b") + "\n")
    monkeypatch.setenv("DEVSERVERS_SSH_PUBLIC_KEY_FILES", str(key))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    (tmp_path / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: c\n"
        "clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
        "contexts: [{name: c, context: {cluster: c, user: u}}]\n"
    )
    state: dict[str, Any] = {
        "data": {
            f.name: encode_flavor(f) for f in (HUGE, TINY.model_copy(update={"default": True}))
        },
        "reads": [],
        "nodes": None,
    }

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        state["reads"].append(f"{namespace}/{name}")
        return state["data"]

    monkeypatch.setattr(Cluster, "config_map", config_map)

    def nodes_and_pods(self) -> tuple[list[Any], list[Any]]:
        if state["nodes"] is None:
            raise Forbidden("list nodes: forbidden to these credentials (403 Forbidden)")
        return state["nodes"]

    monkeypatch.setattr(Cluster, "nodes_and_pods", nodes_and_pods)
    return state


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_flavors_come_from_the_platform_catalog(platform) -> None:
    code, out, err = run("flavors", "-o", "json")

    assert code == 0, err
    listed = json.loads(out)
    assert [(f["name"], f["default"]) for f in listed] == [("tiny", True), ("huge", False)]
    assert platform["reads"] == ["devservers-system/flavors"]
    assert "built-in" not in err


def test_flavors_without_node_access_are_unknown(platform) -> None:
    code, out, _ = run("flavors", "-o", "yaml")

    assert code == 0
    listed = yaml.safe_load(out)
    assert {f["schedulable"] for f in listed} == {None}
    assert "list nodes: forbidden" in listed[0]["reason"]


def test_flavors_table_without_node_access_says_once_what_it_could_not_read(platform) -> None:
    code, out, err = run("flavors")

    assert code == 0
    assert "Unknown" not in out and "schedulable" not in out
    assert [line.split()[0] for line in out.splitlines()[1:]] == ["tiny", "huge"]
    assert err.count("list nodes: forbidden to these credentials (403 Forbidden)") == 1
    assert "not known" in err


def test_flavors_report_schedulability_per_flavor(platform) -> None:
    from kubernetes import client

    platform["nodes"] = (
        [
            client.V1Node(
                metadata=client.V1ObjectMeta(name="n1", labels={}),
                spec=client.V1NodeSpec(),
                status=client.V1NodeStatus(
                    allocatable={"cpu": "8", "memory": "64Gi", "pods": "10"},
                    conditions=[client.V1NodeCondition(type="Ready", status="True")],
                ),
            )
        ],
        [],
    )
    code, out, _ = run("flavors")

    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "Yes" in rows["tiny"] and "fits on n1" in rows["tiny"]
    assert "No" in rows["huge"] and "needs 8Ti memory" in rows["huge"]


def test_platform_namespace_setting_is_where_the_catalog_is_read(platform, monkeypatch) -> None:
    monkeypatch.setenv("DEVSERVERS_PLATFORM_NAMESPACE", "elsewhere")

    assert run("flavors", "-o", "json")[0] == 0
    assert platform["reads"] == ["elsewhere/flavors"]


def test_without_a_platform_the_builtin_catalog_is_used_and_said(platform) -> None:
    platform["data"] = None
    code, out, err = run("flavors", "-o", "json")

    assert code == 0
    assert "cpu-small" in [f["name"] for f in json.loads(out)]
    assert "built-in flavor catalog" in err
    assert "devservers-system/flavors not found" in err


def test_a_flavors_file_wins_over_the_platform(platform, tmp_path, monkeypatch) -> None:
    path = tmp_path / "flavors.yaml"
    path.write_text(yaml.safe_dump([HUGE.model_copy(update={"default": True}).model_dump()]))
    monkeypatch.setenv("DEVSERVERS_FLAVORS_FILE", str(path))

    code, out, _ = run("flavors", "-o", "json")
    assert code == 0
    assert [f["name"] for f in json.loads(out)] == ["huge"]
    assert platform["reads"] == []


def test_broken_platform_catalog_exits_2_naming_it(platform) -> None:
    platform["data"] = {"tiny": "name: tiny\n"}
    code, out, err = run("flavors")

    assert code == 2
    assert out == ""
    assert "configmap devservers-system/flavors" in err and "'tiny'" in err


def test_create_without_flavor_uses_the_platform_default(platform, monkeypatch) -> None:
    from datetime import UTC, datetime

    import devservers.stacks as stacks
    from devservers.stacks.base.results import Server, ServerDetails

    made = []
    server = Server("box", "alice", "dev-alice", "alice.box", "tiny", "Running", datetime.now(UTC))

    def create_server(settings: Any, spec: Any, **_: Any) -> ServerDetails:
        made.append(spec)
        return ServerDetails(server, "box-ssh", (), {})

    monkeypatch.setattr(stacks, "create_server", create_server)
    monkeypatch.setattr("devservers.cli.servers.render.emit", lambda *args: None)

    code, _, err = run("create", "box")
    assert code == 0, err
    assert made[0].flavor.name == "tiny"


def test_create_with_unknown_flavor_exits_2_listing_the_platform_ones(platform) -> None:
    code, out, err = run("create", "box", "--flavor", "cpu-small")

    assert code == 2
    assert out == ""
    assert "unknown flavor 'cpu-small'" in err and "tiny" in err


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["admin", "kubeconfig", "Alice"], "Alice"),
        (["admin", "kubeconfig", "alice", "--duration", "forever"], "forever"),
        (["admin", "kubeconfig", "alice", "--duration", "5m"], "10m"),
    ],
)
def test_admin_kubeconfig_bad_input_exits_2(platform, args: list[str], named: str) -> None:
    code, out, err = run(*args)

    assert code == 2
    assert out == ""
    assert named in err


def test_rendered_kubeconfig_has_one_context_in_the_users_namespace() -> None:
    text = render_kubeconfig({"server": "https://k:6443"}, "alice", "dev-alice", "TOKEN")

    config = yaml.safe_load(text)
    assert config["current-context"] == "devservers-alice"
    assert config["contexts"][0]["context"]["namespace"] == "dev-alice"
    assert config["users"][0]["user"] == {"token": "TOKEN"}
    assert config["clusters"][0]["cluster"]["server"] == "https://k:6443"
