"""Fixtures for tests on the real engine and the local control plane.

``make test`` starts the cluster and exports the toolchain environment; these
fixtures fail (never skip) when either is missing, so a green run always
means the real thing ran.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    path = os.environ.get("KUBECONFIG")
    missing = [b for b in ("pulumi", "kubectl", "pulumi-resource-kubernetes") if not shutil.which(b)]
    if missing or not path or not Path(path).exists():
        pytest.fail(
            f"toolchain or cluster missing (binaries {missing}, KUBECONFIG={path!r}): "
            "run 'make bootstrap cluster-up' and 'eval \"$(make -s env)\"', or use 'make test'"
        )
    return Path(path)


@pytest.fixture(scope="session")
def api(kubeconfig: Path) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(kubeconfig))


@pytest.fixture(scope="session")
def core(api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(api)


@pytest.fixture(scope="session")
def apps(api: client.ApiClient) -> client.AppsV1Api:
    return client.AppsV1Api(api)


@pytest.fixture
def backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A private file backend and passphrase for one test."""
    state = tmp_path / "state"
    state.mkdir()
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "integration-test")
    return f"file://{state}"


@pytest.fixture
def namespace(core: client.CoreV1Api) -> Iterator[str]:
    """A fresh namespace per test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name)
