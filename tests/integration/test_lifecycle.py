"""devctl extend / stop / start on the real engine and cluster."""

from __future__ import annotations

import json
from datetime import timedelta

from kubernetes import client
from test_devctl import devctl

from devservers.components.durations import parse_instant


def test_stop_keeps_claims_and_host_keys_start_brings_the_pod_back(
    devctl_env: dict[str, str],
    namespace: str,
    claim: str,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
) -> None:
    created = devctl(
        devctl_env, "create", "box", "-v", f"{claim}:/data", "--ttl", "1h", "-o", "json"
    )
    assert created.returncode == 0, created.stderr
    before = json.loads(created.stdout)
    try:
        stopped = devctl(devctl_env, "stop", "box", "-o", "json")
        assert stopped.returncode == 0, stopped.stderr
        after_stop = json.loads(stopped.stdout)
        assert after_stop["server"]["status"] == "Stopped"
        assert after_stop["pods"] == []
        assert after_stop["volumes"] == [f"{claim}:/data"]
        assert after_stop["host_public_keys"] == before["host_public_keys"]
        assert after_stop["server"]["expiry"] == before["server"]["expiry"]
        listed = json.loads(devctl(devctl_env, "list", "-o", "json").stdout)
        assert [(s["name"], s["status"]) for s in listed] == [("box", "Stopped")]
        host_keys = core.read_namespaced_secret("box-host-keys", namespace).data
        core.delete_namespaced_secret("box-host-keys", namespace)  # by hand, while stopped

        started = devctl(devctl_env, "start", "box", "-o", "json")
        assert started.returncode == 0, started.stderr
        after_start = json.loads(started.stdout)
        assert after_start["server"]["status"] == "Running"
        assert [p["ready"] for p in after_start["pods"]] == [True]
        assert after_start["host_public_keys"] == before["host_public_keys"]
        assert core.read_namespaced_secret("box-host-keys", namespace).data == host_keys
        mounts = apps.read_namespaced_deployment("box", namespace).spec.template.spec
        claims = [
            v.persistent_volume_claim.claim_name
            for v in mounts.volumes
            if v.persistent_volume_claim
        ]
        assert claims == [claim]
    finally:
        assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0


def test_extend_moves_the_expiry_without_restarting_the_pod(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api
) -> None:
    created = devctl(devctl_env, "create", "box", "--ttl", "1h", "-o", "json")
    assert created.returncode == 0, created.stderr
    before = json.loads(created.stdout)
    try:
        extended = devctl(devctl_env, "extend", "box", "--by", "2h", "-o", "json")
        assert extended.returncode == 0, extended.stderr
        after = json.loads(extended.stdout)
        old, new = (parse_instant(d["server"]["expiry"]) for d in (before, after))
        assert new - old == timedelta(hours=2)
        assert [p["name"] for p in after["pods"]] == [p["name"] for p in before["pods"]]
        deployment = apps.read_namespaced_deployment("box", namespace)
        assert deployment.metadata.annotations["devservers.dev/expiry"] == after["server"]["expiry"]

        too_far = devctl(devctl_env, "extend", "box", "--by", "6d23h")
        assert too_far.returncode == 2
        assert "past the maximum" in too_far.stderr
        unchanged = json.loads(devctl(devctl_env, "describe", "box", "-o", "json").stdout)
        assert unchanged["server"]["expiry"] == after["server"]["expiry"]
    finally:
        assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
