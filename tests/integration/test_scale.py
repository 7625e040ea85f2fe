"""Fast paths at scale: listing costs one API call per kind however many servers exist;
the consistency sweep finds stacks without objects and objects without stacks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from devservers.components import labels as lbl
from devservers.stacks import Settings, list_servers, load_settings, sweep_consistency
from devservers.stacks.engine import workspace


def labelled_deployment(user: str, name: str, flavor: str = "cpu-small") -> client.V1Deployment:
    """A Deployment carrying a DevServer's labels, with 0 replicas (listing reads labels only)."""
    labels = lbl.server_labels(user, name, f"{user}.{name}", flavor)
    selector = lbl.selector_labels(user, name)
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(
            name=name, labels=labels, annotations={lbl.EXPIRY: "2099-01-01T00:00:00Z"}
        ),
        spec=client.V1DeploymentSpec(
            replicas=0,
            selector=client.V1LabelSelector(match_labels=selector),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=selector),
                spec=client.V1PodSpec(containers=[client.V1Container(name="s", image="none")]),
            ),
        ),
    )


@pytest.fixture
def settings(
    kubeconfig: Path, backend: str, namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Settings:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("DEVSERVERS_CONFIG", str(tmp_path / "none.yaml"))
    for var in ("DEVSERVERS_BACKEND_URL", "DEVSERVERS_USER", "DEVSERVERS_NAMESPACE"):
        monkeypatch.delenv(var, raising=False)
    return load_settings(user="alice", namespace=namespace, backend_url=backend)


@pytest.fixture
def api_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every request the kubernetes client sends, as ``METHOD path``."""
    calls: list[str] = []
    real = client.ApiClient.call_api

    def counting(self: client.ApiClient, resource_path: str, method: str, *a, **kw):  # type: ignore[no-untyped-def]
        calls.append(f"{method} {resource_path}")
        return real(self, resource_path, method, *a, **kw)

    monkeypatch.setattr(client.ApiClient, "call_api", counting)
    yield calls


@pytest.mark.parametrize("count", [3, 30])
def test_list_is_one_api_call_per_kind_at_any_size(
    settings: Settings,
    namespace: str,
    apps: client.AppsV1Api,
    api_calls: list[str],
    count: int,
) -> None:
    for i in range(count):
        apps.create_namespaced_deployment(namespace, labelled_deployment("alice", f"s{i}"))
    apps.create_namespaced_deployment(namespace, labelled_deployment("bob", "theirs"))
    api_calls.clear()

    mine = list_servers(settings)
    # Deployments, ConfigMaps, Secrets, Services, activity Leases
    assert len(api_calls) == 5, api_calls
    assert sorted(s.name for s in mine) == sorted(f"s{i}" for i in range(count))
    assert {s.status for s in mine} == {"Stopped"}

    api_calls.clear()
    everyone = list_servers(settings, all_users=True)
    assert len(api_calls) == 5, api_calls
    assert {("bob", "theirs"), ("alice", "s0")} <= {(s.user, s.name) for s in everyone}


def test_list_shows_what_a_failed_create_left_without_a_deployment(
    settings: Settings, namespace: str, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    # A create that failed on a full disk left the ConfigMap of alice.half;
    # others left only the Lease of alice.lease, or the Secret of alice.secret.
    apps.create_namespaced_deployment(namespace, labelled_deployment("alice", "whole"))
    for name in ("whole", "half"):
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(
                metadata=client.V1ObjectMeta(
                    name=f"{name}-sshd",
                    labels=lbl.server_labels("alice", name, f"alice.{name}", "cpu-small"),
                    annotations={lbl.EXPIRY: "2099-01-01T00:00:00Z"},
                )
            ),
        )
    client.CoordinationV1Api(apps.api_client).create_namespaced_lease(
        namespace,
        client.V1Lease(
            metadata=client.V1ObjectMeta(
                name="lease", labels=lbl.server_labels("alice", "lease", "alice.lease", "cpu-small")
            ),
            spec=client.V1LeaseSpec(),
        ),
    )

    core.create_namespaced_secret(
        namespace,
        client.V1Secret(
            metadata=client.V1ObjectMeta(
                name="secret-host-keys",
                labels=lbl.server_labels("alice", "secret", "alice.secret", "cpu-small"),
            )
        ),
    )

    listed = {s.name: s for s in list_servers(settings)}

    assert {n: s.status for n, s in listed.items()} == {
        "whole": "Stopped",
        "half": "Incomplete",
        "lease": "Incomplete",
        "secret": "Incomplete",
    }
    assert listed["half"].flavor == "cpu-small"
    assert listed["half"].expiry.year == 2099
    assert "'devctl delete half' removes them" in (listed["half"].notice or "")


def test_sweep_reports_stacks_without_objects_and_objects_without_stacks(
    settings: Settings, namespace: str, apps: client.AppsV1Api
) -> None:
    for stack in ("alice.ghost", "alice.pair"):
        workspace.create_stack(settings, stack, lambda: None)
    for name in ("pair", "orphan"):
        apps.create_namespaced_deployment(namespace, labelled_deployment("alice", name))

    result = sweep_consistency(settings)

    assert result.stacks == 2
    assert result.stacks_without_objects == ("alice.ghost",)
    mine = [o for o in result.objects_without_stacks if o.namespace == namespace]
    assert [(o.name, o.stack) for o in mine] == [("orphan", "alice.orphan")]
    assert not result.consistent
