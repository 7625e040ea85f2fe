"""Fixtures for tests on the real engine and the local control plane.

``make test`` starts the cluster and exports the toolchain environment; these
fixtures fail (never skip) when either is missing, so a green run always
means the real thing ran.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def kubeconfig() -> Path:
    path = os.environ.get("KUBECONFIG")
    missing = [
        b for b in ("pulumi", "kubectl", "pulumi-resource-kubernetes") if not shutil.which(b)
    ]
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


def hermetic_catalog(path: Path) -> Path:
    """The built-in catalog, with ``cpu-small`` requesting 100m CPU and 256Mi (limits kept).

    Its pods run on the real node, which has the machine's 2 CPUs: at the
    built-in request of 1 CPU, two servers at once (the demo's among them)
    would fill it, and the suite runs more than that in parallel. On a
    cluster started without the real node (``DEVSERVERS_REAL_NODE=0``) the
    cpu flavors go to kwok's fake cpu node instead, where pods turn Ready
    without running: the tests of the engine, waits, faults and lifecycle
    run there too (those of a real process, SSH among them, do not).
    """
    from devservers.components.catalog import BUILTIN_FLAVORS
    from devservers.components.specs import FlavorSpec

    fake = os.environ.get("DEVSERVERS_REAL_NODE") == "0"
    kwok = {
        "node_selector": {"type": "kwok"},
        "tolerations": [
            {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}
        ],
    }
    flavors = [
        f.model_copy(update={"cpu_request": "100m", "memory_request": "256Mi"})
        if f.name == "cpu-small"
        else f
        for f in BUILTIN_FLAVORS
    ]
    flavors = [
        FlavorSpec(**{**f.model_dump(), **kwok}) if fake and not f.gpus else f for f in flavors
    ]
    path.write_text(yaml.safe_dump([f.model_dump(mode="json") for f in flavors]))
    return path


def devctl_environment(tmp: Path, backend: str, namespace: str) -> dict[str, str]:
    """Environment of a devctl process: its own home (with a public key), state and namespace."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    key = ed25519.Ed25519PrivateKey.generate()
    (home / ".ssh" / "id_ed25519.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + b" alice@laptop\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEVSERVERS_")}
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(tmp / "config"),
        XDG_DATA_HOME=str(tmp / "data"),
        DEVSERVERS_USER="alice",
        DEVSERVERS_NAMESPACE=namespace,
        # Hermetic catalog: no platform publishes one here.
        DEVSERVERS_PLATFORM_NAMESPACE=namespace,
        DEVSERVERS_FLAVORS_FILE=str(hermetic_catalog(tmp / "flavors.yaml")),
        DEVSERVERS_BACKEND_URL=backend,
        DEVSERVERS_OPERATION_TIMEOUT_SECONDS="120",
    )
    return env


@pytest.fixture
def devctl_env(tmp_path: Path, backend: str, namespace: str) -> dict[str, str]:
    """Environment of a devctl process: its own home, state, key and namespace."""
    return devctl_environment(tmp_path, backend, namespace)


def make_claim(core: client.CoreV1Api, namespace: str, name: str, data: Path) -> str:
    """A bound claim ``name`` on a pre-bound hostPath PV at ``data``; returns the PV's name.

    The directory is world-writable: hostPath volumes keep their mode (no
    fsGroup), and the DevServer runs as UID 1000.
    """
    pv = f"{namespace}-{name}"
    data.mkdir(parents=True, exist_ok=True)
    data.chmod(0o777)
    core.create_persistent_volume(
        client.V1PersistentVolume(
            metadata=client.V1ObjectMeta(name=pv),
            spec=client.V1PersistentVolumeSpec(
                capacity={"storage": "1Gi"},
                access_modes=["ReadWriteOnce"],
                storage_class_name="",
                host_path=client.V1HostPathVolumeSource(path=str(data), type="Directory"),
                claim_ref=client.V1ObjectReference(namespace=namespace, name=name),
            ),
        )
    )
    core.create_namespaced_persistent_volume_claim(
        namespace,
        client.V1PersistentVolumeClaim(
            metadata=client.V1ObjectMeta(name=name),
            spec=client.V1PersistentVolumeClaimSpec(
                access_modes=["ReadWriteOnce"],
                storage_class_name="",
                volume_name=pv,
                resources=client.V1VolumeResourceRequirements(requests={"storage": "1Gi"}),
            ),
        ),
    )
    return pv


@pytest.fixture
def claim(core: client.CoreV1Api, namespace: str, tmp_path: Path) -> Iterator[str]:
    """A bound PersistentVolumeClaim (with its own pre-bound PV) in the test namespace."""
    pv = make_claim(core, namespace, "datasets", tmp_path / "datasets")
    yield "datasets"
    core.delete_persistent_volume(pv)


MANAGED = "app.kubernetes.io/managed-by=devservers"


def managed_objects(core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str) -> list[str]:
    """Every devservers-labelled object left in ``namespace``, as ``kind/name``."""
    found = [
        (kind, item.metadata.name)
        for kind, lister in (
            ("deployment", apps.list_namespaced_deployment),
            ("service", core.list_namespaced_service),
            ("secret", core.list_namespaced_secret),
            ("configmap", core.list_namespaced_config_map),
            ("pod", core.list_namespaced_pod),
        )
        for item in lister(namespace, label_selector=MANAGED).items
        if not (kind == "pod" and item.metadata.deletion_timestamp)
    ]
    return sorted(f"{kind}/{name}" for kind, name in found)


def stack_files(backend: str) -> list[str]:
    """Names of the stacks recorded in a file backend."""
    root = Path(backend.removeprefix("file://")) / ".pulumi" / "stacks"
    return (
        sorted(p.name.removesuffix(".json") for p in root.rglob("*.json")) if root.exists() else []
    )


@pytest.fixture
def leftovers(
    core: client.CoreV1Api, apps: client.AppsV1Api, namespace: str, backend: str
) -> Callable[[], tuple[list[str], list[str]]]:
    """The label sweep of a test: (devservers objects left in its namespace, stacks left)."""
    return lambda: (managed_objects(core, apps, namespace), stack_files(backend))
