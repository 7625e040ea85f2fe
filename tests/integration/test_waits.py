"""Waits that end when the cluster has said why: quota, image, unschedulable, not a timeout."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from kubernetes import client

FLAVORS = """\
- name: cpu-small
  default: true
  cpu_request: 100m
  cpu_limit: "1"
  memory_request: 128Mi
  memory_limit: 1Gi
- name: gpu-huge
  cpu_request: 100m
  cpu_limit: "1"
  memory_request: 128Mi
  memory_limit: 1Gi
  gpus: 16
  node_selector: {nvidia.com/gpu.present: "true"}
  tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
"""


def devctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["devctl", "-q", *args], env=env, capture_output=True, text=True, timeout=240, check=False
    )


def test_unschedulable_gpu_ends_with_pod_phase_conditions_and_events(
    devctl_env: dict[str, str],
    tmp_path: Path,
    leftovers: Callable[[], tuple[list[str], list[str]]],
) -> None:
    flavors = tmp_path / "flavors.yaml"
    flavors.write_text(FLAVORS)
    env = {
        **devctl_env,
        "DEVSERVERS_FLAVORS_FILE": str(flavors),
    }
    created = devctl(env, "create", "big", "--flavor", "gpu-huge")
    assert created.returncode == 5, created.stderr
    assert "cannot become Ready: Unschedulable:" in created.stderr
    assert "phase Pending" in created.stderr
    assert "PodScheduled=False Unschedulable" in created.stderr
    assert "FailedScheduling" in created.stderr
    assert "nvidia.com/gpu" in created.stderr
    deleted = devctl(env, "delete", "big", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert leftovers() == ([], [])


def timed(env: dict[str, str], *args: str) -> tuple[subprocess.CompletedProcess[str], float]:
    """devctl ``args`` and how long it took (seconds; printed for the record, never asserted)."""
    began = time.monotonic()
    done = devctl(env, *args)
    took = time.monotonic() - began
    print(f"devctl {' '.join(args)}: exit {done.returncode} after {took:.1f}s")
    return done, took


def test_create_over_the_quota_ends_with_the_quota_message_and_resumes_once_freed(
    devctl_env: dict[str, str],
    core: client.CoreV1Api,
    namespace: str,
    leftovers: Callable[[], tuple[list[str], list[str]]],
) -> None:
    quota = client.V1ResourceQuota(
        metadata=client.V1ObjectMeta(name="compute"),
        spec=client.V1ResourceQuotaSpec(hard={"limits.cpu": "500m"}),
    )
    core.create_namespaced_resource_quota(namespace, quota)
    # Bounded by the whole timeout: only a wait that ends early passes within the test's own.
    env = {**devctl_env, "DEVSERVERS_OPERATION_TIMEOUT_SECONDS": "600"}

    created, _ = timed(env, "create", "box")

    assert created.returncode == 4, created.stderr
    assert "cannot become Ready: FailedCreate:" in created.stderr
    assert "exceeded quota: compute" in created.stderr
    assert "free some of your quota" in created.stderr
    described = devctl(env, "describe", "box")
    assert described.returncode == 0, described.stderr
    assert "Status:     Pending" in described.stdout
    assert "exceeded quota: compute" in described.stdout
    core.delete_namespaced_resource_quota("compute", namespace)
    resumed = devctl(env, "create", "box", "-o", "json")
    assert resumed.returncode == 0, resumed.stderr
    assert '"status": "Running"' in resumed.stdout
    deleted = devctl(env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert leftovers() == ([], [])


def test_an_image_that_does_not_exist_ends_with_the_image_error(
    devctl_env: dict[str, str],
    tmp_path: Path,
    core: client.CoreV1Api,
    leftovers: Callable[[], tuple[list[str], list[str]]],
) -> None:
    real = [n.metadata.name for n in core.list_node().items if n.metadata.name.startswith("real-")]
    assert real, "no real kubelet node (real-*) in the cluster: KWOK nodes pull no image"
    flavors = tmp_path / "flavors.yaml"
    flavors.write_text(
        "- {name: cpu-real, default: true, cpu_request: 10m, cpu_limit: 100m,"
        " memory_request: 16Mi, memory_limit: 64Mi,"
        f" node_selector: {{kubernetes.io/hostname: {real[0]}}}}}\n"
    )
    env = {
        **devctl_env,
        "DEVSERVERS_FLAVORS_FILE": str(flavors),
        "DEVSERVERS_OPERATION_TIMEOUT_SECONDS": "600",
    }

    created, _ = timed(env, "create", "box", "--image", "localhost/devservers/no-such-image:0")

    assert created.returncode == 5, created.stderr
    assert "cannot become Ready: " in created.stderr
    assert any(
        f"{reason}: pod box-" in created.stderr
        for reason in ("ErrImagePull", "ImagePullBackOff", "ErrImageNeverPull")
    ), created.stderr
    assert "--image IMG" in created.stderr
    deleted = devctl(env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert leftovers() == ([], [])
