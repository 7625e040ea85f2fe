"""Honest drift and visible sizing: what repair, describe and update tell about a server.

On a cluster of fake nodes too (``DEVSERVERS_REAL_NODE=0``): nothing here needs
a process in the pod, only its Deployment.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import yaml
from kubernetes import client
from test_devctl import devctl


def _create(env: dict[str, str], claim: str) -> None:
    created = devctl(env, "create", "box", "-v", f"{claim}:/data", "--ttl", "1h")
    assert created.returncode == 0, created.stderr


def _kubectl(namespace: str, *args: str) -> None:
    subprocess.run(["kubectl", "-n", namespace, *args], check=True, capture_output=True)


def test_repair_of_a_healthy_server_reports_no_drift(
    devctl_env: dict[str, str], claim: str
) -> None:
    _create(devctl_env, claim)
    for _ in range(2):  # the second after an update that read the claim again
        repaired = devctl(devctl_env, "repair", "box", "-o", "json")
        assert repaired.returncode == 0, repaired.stderr
        report = json.loads(repaired.stdout)
        assert (report["drift"], report["drifted_objects"]) == ({}, [])
        assert (report["converged"], report["converged_objects"]) == ({}, [])
    text = devctl(devctl_env, "repair", "box").stdout
    assert "drift found:          none" in text
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0


def test_repair_after_kubectl_changed_objects_names_them(
    devctl_env: dict[str, str], claim: str, namespace: str, apps: client.AppsV1Api
) -> None:
    _create(devctl_env, claim)
    _kubectl(namespace, "scale", "deployment/box", "--replicas=0")
    _kubectl(namespace, "delete", "service/box-ssh")

    repaired = devctl(devctl_env, "repair", "box", "-o", "json")

    assert repaired.returncode == 0, repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["drifted_objects"] == [
        "service/box-ssh missing",
        "deployment/box edited: spec.replicas",
    ]
    assert sorted(report["converged_objects"]) == [
        "deployment/box configured",
        "service/box-ssh created",
    ]
    assert apps.read_namespaced_deployment("box", namespace).spec.replicas == 1
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0


def _flavor_line(env: dict[str, str]) -> str:
    described = devctl(env, "describe", "box")
    assert described.returncode == 0, described.stderr
    return next(line for line in described.stdout.splitlines() if line.startswith("Flavor:"))


def test_a_changed_flavor_is_shown_and_update_applies_it_keeping_the_claim(
    devctl_env: dict[str, str],
    claim: str,
    namespace: str,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
) -> None:
    _create(devctl_env, claim)
    claim_uid = core.read_namespaced_persistent_volume_claim(claim, namespace).metadata.uid
    assert _flavor_line(devctl_env) == "Flavor:     cpu-small"
    catalog = Path(devctl_env["DEVSERVERS_FLAVORS_FILE"])
    flavors = yaml.safe_load(catalog.read_text())
    small = next(f for f in flavors if f["name"] == "cpu-small")
    small.update(memory_limit="16Gi", shm_size="2Gi")  # the admin's change
    catalog.write_text(yaml.safe_dump(flavors))

    assert _flavor_line(devctl_env) == (
        "Flavor:     cpu-small (changed in the catalog: memory limit 8Gi → 16Gi, "
        "/dev/shm 1Gi → 2Gi; 'devctl update box' applies it)"
    )
    before = json.loads(devctl(devctl_env, "describe", "box", "-o", "json").stdout)
    assert before["sizing"]["limits"]["memory"] == "8Gi"
    assert before["sizing"]["shm_size"] == "1Gi"

    updated = devctl(devctl_env, "update", "box", "-o", "json")

    assert updated.returncode == 0, updated.stderr
    assert "box: flavor cpu-small updated (memory limit 8Gi → 16Gi, /dev/shm 1Gi → 2Gi)" in (
        updated.stderr
    )
    result = json.loads(updated.stdout)
    assert [c["field"] for c in result["changes"]] == ["memory limit", "/dev/shm"]
    assert result["details"]["sizing"]["limits"]["memory"] == "16Gi"
    assert result["details"]["server"]["status"] == "Running"
    assert _flavor_line(devctl_env) == "Flavor:     cpu-small"
    pod = apps.read_namespaced_deployment("box", namespace).spec.template.spec
    assert pod.containers[0].resources.limits["memory"] == "16Gi"
    assert [
        v.persistent_volume_claim.claim_name for v in pod.volumes if v.persistent_volume_claim
    ] == [claim]
    assert core.read_namespaced_persistent_volume_claim(claim, namespace).metadata.uid == claim_uid
    again = devctl(devctl_env, "update", "box")
    assert again.returncode == 0, again.stderr
    assert "nothing changed" in again.stderr
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
