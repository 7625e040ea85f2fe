"""devctl create / list / describe / delete on the real engine and cluster."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

from kubernetes import client


def devctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["devctl", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def stacks_in(backend: str) -> list[Path]:
    root = Path(backend.removeprefix("file://")) / ".pulumi" / "stacks"
    return sorted(root.rglob("*.json")) if root.exists() else []


def test_create_list_describe_delete(
    devctl_env: dict[str, str],
    namespace: str,
    claim: str,
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
) -> None:
    created = devctl(
        devctl_env,
        "create",
        "box",
        "-v",
        f"{claim}:/data:ro",
        "-v",
        f"{claim}:/scratch",
        "--ttl",
        "2h",
        "-o",
        "json",
    )
    assert created.returncode == 0, created.stderr
    details = json.loads(created.stdout)
    assert details["server"]["status"] == "Running"
    assert details["server"]["stack"] == "alice.box"
    assert details["volumes"] == [f"{claim}:/data:ro", f"{claim}:/scratch"]
    assert set(details["host_public_keys"]) == {"ed25519"}

    deployment = apps.read_namespaced_deployment("box", namespace)
    assert deployment.metadata.labels["app.kubernetes.io/managed-by"] == "devservers"
    assert deployment.metadata.labels["devservers.dev/owner"] == "alice"
    assert deployment.metadata.annotations["devservers.dev/expiry"] == details["server"]["expiry"]
    assert deployment.spec.strategy.type == "Recreate"
    pod_spec = deployment.spec.template.spec
    mounts = {m.mount_path: m for m in pod_spec.containers[0].volume_mounts}
    assert mounts["/data"].read_only is True
    assert not mounts["/scratch"].read_only
    assert "/home/dev" in mounts
    assert pod_spec.security_context.run_as_non_root is True
    assert core.read_namespaced_service("box-ssh", namespace).spec.type == "ClusterIP"
    assert core.read_namespaced_secret("box-authorized-keys", namespace).data["authorized_keys"]

    listed = devctl(devctl_env, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert [(s["name"], s["status"]) for s in json.loads(listed.stdout)] == [("box", "Running")]

    again = devctl(devctl_env, "create", "box")
    assert again.returncode == 4
    assert "already exists" in again.stderr

    deleted = devctl(devctl_env, "delete", "box", "--yes", "-o", "json")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(deleted.stdout)["claims_kept"] == [claim]
    assert "deployment/box deleted" in deleted.stderr.splitlines()
    assert "lease/box deleted" in deleted.stderr.splitlines(), "its activity Lease goes too"
    assert "alice.box: 6 deleted" in deleted.stderr
    assert "pulumi stack rm" not in deleted.stderr, "the stack is removed already"
    assert apps.list_namespaced_deployment(namespace).items == []
    assert core.list_namespaced_pod(namespace).items == [], "no pod holds the claims any more"
    assert core.read_namespaced_persistent_volume_claim(claim, namespace).status.phase == "Bound"
    assert stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"]) == []
    assert json.loads(devctl(devctl_env, "list", "-o", "json").stdout) == []

    gone = devctl(devctl_env, "delete", "box", "--yes")
    assert gone.returncode == 3
    assert "DevServer 'box' of user 'alice' does not exist" in gone.stderr


def test_missing_claim_is_refused_before_any_stack(devctl_env: dict[str, str]) -> None:
    result = devctl(devctl_env, "create", "box", "-v", "nope:/data")
    assert result.returncode == 3
    assert "nope" in result.stderr
    assert stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"]) == []


def test_missing_namespace_is_refused_before_any_stack(devctl_env: dict[str, str]) -> None:
    env = {**devctl_env, "DEVSERVERS_NAMESPACE": "dev-nobody-here"}
    result = devctl(env, "create", "box")
    assert result.returncode == 3
    assert "dev-nobody-here" in result.stderr
    assert "hint: user namespaces come from the platform" in result.stderr
    assert stacks_in(env["DEVSERVERS_BACKEND_URL"]) == []


def test_gpu_flavor_lands_on_the_gpu_node(
    devctl_env: dict[str, str], namespace: str, core: client.CoreV1Api
) -> None:
    created = devctl(
        devctl_env, "create", "trainer", "--flavor", "gpu-small", "--no-wait", "-o", "json"
    )
    assert created.returncode == 0, created.stderr
    try:
        pods = _wait_for_pods(core, namespace, "devservers.dev/server=trainer")
        pod = pods[0]
        assert pod.spec.node_name == "kwok-gpu-0"
        limits = pod.spec.containers[0].resources.limits
        assert limits["nvidia.com/gpu"] == "1"
        assert any(t.key == "nvidia.com/gpu" for t in pod.spec.tolerations)
    finally:
        assert devctl(devctl_env, "delete", "trainer", "--yes").returncode == 0


def test_second_create_of_a_name_leaves_the_first_untouched(
    devctl_env: dict[str, str], namespace: str, apps: client.AppsV1Api
) -> None:
    assert devctl(devctl_env, "create", "solo", "--no-wait").returncode == 0
    # The generation counts changes of the spec; the status changes as the real pod starts.
    before = apps.read_namespaced_deployment("solo", namespace).metadata.generation
    again = devctl(devctl_env, "create", "solo", "--flavor", "cpu-large")
    assert again.returncode == 4
    after = apps.read_namespaced_deployment("solo", namespace)
    assert after.metadata.generation == before
    assert after.metadata.labels["devservers.dev/flavor"] == "cpu-small"
    assert devctl(devctl_env, "delete", "solo", "--yes").returncode == 0


def test_pulumi_backend_url_of_the_shell_does_not_move_the_stacks(
    devctl_env: dict[str, str], namespace: str, tmp_path: Path
) -> None:
    # The admin's shell of the README exports PULUMI_BACKEND_URL for the platform stack.
    (tmp_path / "platform-state").mkdir()
    platform = f"file://{tmp_path / 'platform-state'}"
    env = {**devctl_env, "PULUMI_BACKEND_URL": platform}

    created = devctl(env, "create", "trainer", "--flavor", "gpu-small", "--no-wait")

    assert created.returncode == 0, created.stderr
    try:
        assert stacks_in(platform) == []
        assert [p.name for p in stacks_in(devctl_env["DEVSERVERS_BACKEND_URL"])] == [
            "alice.trainer.json"
        ]
    finally:
        deleted = devctl(env, "delete", "trainer", "--yes")
    assert deleted.returncode == 0, deleted.stderr


def _wait_for_pods(
    core: client.CoreV1Api, namespace: str, selector: str, timeout: float = 60
) -> list:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pods = [
            p
            for p in core.list_namespaced_pod(namespace, label_selector=selector).items
            if p.spec.node_name
        ]
        if pods:
            return pods
        time.sleep(0.5)
    raise AssertionError(f"no scheduled pod for {selector} in {namespace}")


def test_missing_pulumi_cli_says_what_to_run(devctl_env: dict[str, str]) -> None:
    path = ":".join(p for p in devctl_env["PATH"].split(":") if "toolchain" not in p)
    result = devctl({**devctl_env, "PATH": path}, "create", "box")
    assert result.returncode == 5
    assert "make bootstrap" in result.stderr
    assert "Traceback" not in result.stderr
