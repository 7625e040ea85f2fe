"""The local cluster's real node: Ready beside the fake ones, and restarted in place.

``cluster/up.sh`` must restart a kubelet or containerd that stopped without
recreating the cluster (which would forget every stack), and running pods
must survive both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
NODE_DIR = REPO / ".cluster" / f"{os.environ.get('DEVSERVERS_CLUSTER_NAME', 'devservers')}-node"


def _ready(node: client.V1Node) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in node.status.conditions or [])


def test_the_real_node_is_ready_beside_the_fake_ones(core: client.CoreV1Api) -> None:
    nodes = {n.metadata.name: n for n in core.list_node().items}
    assert {"real-0", "kwok-cpu-0", "kwok-gpu-0"} <= set(nodes)
    assert all(_ready(n) for n in nodes.values())
    real = nodes["real-0"]
    assert "kwok.x-k8s.io/node" not in (real.metadata.annotations or {})
    assert real.status.node_info.kubelet_version.startswith("v1.")
    assert real.status.node_info.container_runtime_version.startswith("containerd://")
    # Only the fake cpu node is tainted: the cpu flavors land on the real node.
    assert [t.key for t in nodes["kwok-cpu-0"].spec.taints] == ["kwok.x-k8s.io/node"]
    assert not real.spec.taints


def test_killed_kubelet_and_containerd_come_back_with_the_cluster_and_pods_kept(
    core: client.CoreV1Api,
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    try:
        core.create_namespaced_pod(namespace, _sleeper())
        pod = _wait_running(core, namespace)
        for process in ("kubelet", "containerd"):
            os.kill(int((NODE_DIR / f"{process}.pid").read_text()), signal.SIGKILL)
        up = subprocess.run(
            [REPO / "cluster" / "up.sh"], capture_output=True, text=True, timeout=300, check=False
        )
        assert up.returncode == 0, up.stderr
        assert "recreating" not in up.stderr
        core.read_namespace(namespace)  # the cluster, and what it held, is the same
        assert _ready(core.read_node("real-0"))
        after = _wait_running(core, namespace)
        assert after.metadata.uid == pod.metadata.uid
        assert after.status.container_statuses[0].restart_count == 0
    finally:
        core.delete_namespace(namespace)


def _sleeper() -> client.V1Pod:
    """A pod on the real node running the DevServer image's shell, as UID 1000."""
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="sleeper"),
        spec=client.V1PodSpec(
            node_selector={"devservers.dev/node": "real"},
            termination_grace_period_seconds=1,
            security_context=client.V1PodSecurityContext(run_as_user=1000, run_as_non_root=True),
            containers=[
                client.V1Container(
                    name="sleeper",
                    image="localhost/devservers/devserver:bookworm",
                    command=["/bin/sh", "-c", "exec sleep 3600"],
                )
            ],
        ),
    )


def _wait_running(core: client.CoreV1Api, namespace: str, timeout: float = 120) -> client.V1Pod:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pod = core.read_namespaced_pod("sleeper", namespace)
        statuses = pod.status.container_statuses or []
        if statuses and statuses[0].ready:
            return pod
        time.sleep(0.5)
    raise AssertionError(f"pod sleeper in {namespace} did not run: {pod.status}")
