"""The real Pulumi engine drives the real API server: create, update, destroy."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pytest
from kubernetes import client
from pulumi import automation as auto


def _program(namespace: str, kubeconfig: Path, image: str) -> Callable[[], None]:
    def program() -> None:
        provider = k8s.Provider("cluster", kubeconfig=str(kubeconfig))
        opts = pulumi.ResourceOptions(provider=provider)
        ns = k8s.core.v1.Namespace(namespace, metadata={"name": namespace}, opts=opts)
        labels = {"app": "proof"}
        k8s.apps.v1.Deployment(
            "proof",
            metadata={"name": "proof", "namespace": ns.metadata.name},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    # On kwok's fake cpu node: these images are never pulled there.
                    "spec": {
                        "containers": [{"name": "main", "image": image}],
                        "nodeSelector": {"type": "kwok"},
                        "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
                    },
                },
            },
            opts=opts,
        )

    return program


def _wait_gone(read: Callable[[], object], timeout_seconds: float = 60) -> bool:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            read()
        except client.ApiException as exc:
            if exc.status == 404:
                return True
            raise
        time.sleep(0.5)
    return False


def test_engine_creates_updates_and_destroys_on_the_cluster(
    backend: str, kubeconfig: Path, apps: client.AppsV1Api, core: client.CoreV1Api
) -> None:
    namespace = f"proof-{uuid.uuid4().hex[:8]}"
    opts = auto.LocalWorkspaceOptions(
        project_settings=auto.ProjectSettings(
            name="engine-proof", runtime="python", backend=auto.ProjectBackend(url=backend)
        ),
        secrets_provider="passphrase",
    )
    stack = auto.create_stack(
        "proof",
        project_name="engine-proof",
        program=_program(namespace, kubeconfig, "busybox:1"),
        opts=opts,
    )
    try:
        up = stack.up(color="never")
        assert up.summary.result == "succeeded"
        deployment = apps.read_namespaced_deployment("proof", namespace)
        assert deployment.status.ready_replicas == 1
        pods = core.list_namespaced_pod(namespace, label_selector="app=proof").items
        assert [p.status.phase for p in pods] == ["Running"]
        assert pods[0].spec.node_name.startswith("kwok-")

        stack.up(color="never", program=_program(namespace, kubeconfig, "busybox:2"))
        updated = apps.read_namespaced_deployment("proof", namespace)
        assert updated.spec.template.spec.containers[0].image == "busybox:2"
        assert updated.status.ready_replicas == 1
    finally:
        stack.destroy(color="never")
        stack.workspace.remove_stack("proof")
    assert _wait_gone(lambda: apps.read_namespaced_deployment("proof", namespace))
    assert _wait_gone(lambda: core.read_namespace(namespace))
    with pytest.raises(auto.StackNotFoundError):
        auto.select_stack("proof", project_name="engine-proof", program=lambda: None, opts=opts)
