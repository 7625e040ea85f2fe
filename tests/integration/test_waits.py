"""Bounded waits: a pod that can never be scheduled ends in an explained error, not a hang."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

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


def test_unschedulable_gpu_times_out_with_pod_phase_conditions_and_events(
    devctl_env: dict[str, str],
    tmp_path: Path,
    leftovers: Callable[[], tuple[list[str], list[str]]],
) -> None:
    flavors = tmp_path / "flavors.yaml"
    flavors.write_text(FLAVORS)
    env = {
        **devctl_env,
        "DEVSERVERS_FLAVORS_FILE": str(flavors),
        "DEVSERVERS_OPERATION_TIMEOUT_SECONDS": "15",
    }
    created = devctl(env, "create", "big", "--flavor", "gpu-huge")
    assert created.returncode == 5, created.stderr
    assert "phase Pending" in created.stderr
    assert "PodScheduled=False Unschedulable" in created.stderr
    assert "FailedScheduling" in created.stderr
    assert "nvidia.com/gpu" in created.stderr
    deleted = devctl(env, "delete", "big", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert leftovers() == ([], [])
