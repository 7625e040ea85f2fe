"""The platform through the real ``pulumi`` CLI, and real RBAC on the real API server.

One platform stack per module run, deployed from ``Pulumi.example.yaml`` with
the user names and the system namespace suffixed, so runs never collide on
the shared cluster. Tests run in file order: the no-change check comes before
the flavor change.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "Pulumi.example.yaml"


def run(
    args: list[str], env: dict[str, str], timeout: int = 600
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def forbidden(call: Callable[[], Any]) -> bool:
    try:
        call()
    except client.ApiException as exc:
        return exc.status == 403
    return False


@dataclass
class Platform:
    """A deployed platform stack and how to drive it."""

    suffix: str
    stack: str
    config_file: Path
    config: dict[str, Any]
    env: dict[str, str]
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def system(self) -> str:
        return self.config["devservers:system_namespace"]

    def user(self, base: str) -> str:
        return f"{base}-{self.suffix}"

    def write(self, config: dict[str, Any]) -> None:
        self.config_file.write_text(yaml.safe_dump({"config": config}, sort_keys=False))

    def pulumi(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run(["pulumi", *args, "--stack", self.stack, "--non-interactive"], self.env)

    def up(self, *extra: str) -> subprocess.CompletedProcess[str]:
        start = time.monotonic()
        result = self.pulumi("up", "--yes", "--skip-preview", *extra)
        self.timings.setdefault(f"up{len(self.timings)}", time.monotonic() - start)
        return result


def stack_config(suffix: str) -> dict[str, Any]:
    """The example config with suffixed users and system namespace, and the reaper on."""
    config = yaml.safe_load(EXAMPLE.read_text())["config"]
    config["devservers:system_namespace"] = f"devservers-system-{suffix}"
    for user in config["devservers:users"]:
        user["name"] = f"{user['name']}-{suffix}"
    config["devservers:flavors"].append(
        {
            "name": "huge",
            "cpu_request": "1",
            "cpu_limit": "1",
            "memory_request": "64Ti",
            "memory_limit": "64Ti",
        }
    )
    config["devservers:reaper"] = {
        "enabled": True,
        "image": "registry.invalid/devservers:test",
        "schedule": "0 0 1 1 *",
    }
    return config


def pulumi_env(state: Path) -> dict[str, str]:
    state.mkdir(parents=True, exist_ok=True)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DEVSERVERS_", "PULUMI_CONFIG"))
    }
    env.update(PULUMI_BACKEND_URL=f"file://{state}", PULUMI_CONFIG_PASSPHRASE="platform-test")
    return env


@contextmanager
def new_stack(prefix: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """An initialised platform stack with its own backend; removed (with its config) after."""
    suffix = uuid.uuid4().hex[:6]
    stack = f"{prefix}-{suffix}"
    found = Platform(
        suffix=suffix,
        stack=stack,
        config_file=REPO / f"Pulumi.{stack}.yaml",
        config=stack_config(suffix),
        env=pulumi_env(tmp_path_factory.mktemp(prefix) / "state"),
    )
    found.write(found.config)
    try:
        init = run(["pulumi", "stack", "init", stack, "--non-interactive"], found.env)
        assert init.returncode == 0, init.stderr
        yield found
    finally:
        found.pulumi("stack", "rm", "--yes", "--force")
        found.config_file.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def platform(
    kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory, core: client.CoreV1Api
) -> Iterator[Platform]:
    """The example platform, deployed with ``pulumi up``; destroyed after the module."""
    with new_stack("test", tmp_path_factory) as found:
        try:
            up = found.up()
            assert up.returncode == 0, up.stdout + up.stderr
            yield found
        finally:
            found.pulumi("destroy", "--yes", "--skip-preview")
            for user in found.config["devservers:users"]:
                # User namespaces are retained on delete (they may hold claims).
                _delete_namespace(core, f"dev-{user['name']}")
            print(f"pulumi up timings (seconds): {found.timings}", file=sys.stderr)


def _delete_namespace(core: client.CoreV1Api, name: str) -> None:
    try:
        core.delete_namespace(name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise


@pytest.fixture(scope="module")
def user_env(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Callable[..., dict]:
    """Environment of a devctl process for a platform user: own home, key and state."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    def make(base: str, kubeconfig_file: Path | None = None) -> dict[str, str]:
        home = tmp_path_factory.mktemp(f"home-{base}")
        (home / ".ssh").mkdir()
        key = ed25519.Ed25519PrivateKey.generate().public_key()
        (home / ".ssh" / "id_ed25519.pub").write_bytes(
            key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        )
        env = pulumi_env(home / "state")
        env.update(
            HOME=str(home),
            XDG_CONFIG_HOME=str(home / "config"),
            XDG_DATA_HOME=str(home / "data"),
            DEVSERVERS_USER=platform.user(base),
            DEVSERVERS_PLATFORM_NAMESPACE=platform.system,
            DEVSERVERS_BACKEND_URL=env.pop("PULUMI_BACKEND_URL"),
            DEVSERVERS_OPERATION_TIMEOUT_SECONDS="120",
        )
        if kubeconfig_file:
            env["KUBECONFIG"] = str(kubeconfig_file)
        return env

    return make


@pytest.fixture(scope="module")
def alice_kubeconfig(
    platform: Platform, user_env: Callable[..., dict], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    result = run(
        ["devctl", "admin", "kubeconfig", platform.user("alice"), "--duration", "1h"],
        user_env("admin"),
    )
    assert result.returncode == 0, result.stderr
    assert "token expires" in result.stderr
    path = tmp_path_factory.mktemp("alice") / "kubeconfig"
    path.write_text(result.stdout)
    return path


def devctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(["devctl", *args], env)


# --- pulumi up ---------------------------------------------------------------


def test_up_deploys_namespaces_catalog_accounts_and_limits(
    platform: Platform, core: client.CoreV1Api, api: client.ApiClient
) -> None:
    catalog = core.read_namespaced_config_map("flavors", platform.system)
    names = [f["name"] for f in platform.config["devservers:flavors"]]
    assert sorted(catalog.data) == sorted(names)
    assert catalog.metadata.labels["app.kubernetes.io/managed-by"] == "devservers"
    alice, bob = f"dev-{platform.user('alice')}", f"dev-{platform.user('bob')}"
    for ns in (alice, bob):
        assert core.read_namespace(ns).metadata.labels["pod-security.kubernetes.io/enforce"] == (
            "restricted"
        )
        assert core.read_namespaced_service_account("devctl", ns)
        assert "authorized_keys" in core.read_namespaced_config_map("ssh-public-keys", ns).data
    quota = core.read_namespaced_resource_quota("devservers", bob)
    assert quota.spec.hard["requests.nvidia.com/gpu"] == "1"
    assert core.read_namespaced_limit_range("devservers", bob).spec.limits[0].max["cpu"] == "16"
    cronjob = client.BatchV1Api(api).read_namespaced_cron_job("devservers-reaper", platform.system)
    assert cronjob.spec.concurrency_policy == "Forbid"
    assert cronjob.spec.job_template.spec.template.spec.containers[0].args == [
        "--once",
        "--output",
        "json",
    ]
    assert cronjob.spec.starting_deadline_seconds == 120


def test_second_up_reports_no_changes(platform: Platform) -> None:
    preview = platform.pulumi("preview", "--expect-no-changes")
    assert preview.returncode == 0, preview.stdout + preview.stderr

    again = platform.up("--expect-no-changes")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "unchanged" in again.stdout


# --- devctl and the catalog ----------------------------------------------------


def test_devctl_flavors_lists_the_platform_catalog_with_schedulability(
    platform: Platform, user_env: Callable[..., dict]
) -> None:
    result = devctl(user_env("admin"), "flavors", "-o", "json")

    assert result.returncode == 0, result.stderr
    assert "built-in" not in result.stderr
    listed = {f["name"]: f for f in json.loads(result.stdout)}
    assert list(listed) == ["cpu-small", "huge", "cpu-large", "gpu-small", "gpu-large"]
    assert listed["cpu-small"]["default"] is True
    assert listed["cpu-small"]["schedulable"] is True
    assert "real-0" in listed["cpu-small"]["reason"]  # the fake cpu node is tainted
    assert listed["huge"]["schedulable"] is False
    assert "needs 64Ti memory" in listed["huge"]["reason"]
    assert "taint nvidia.com/gpu" in listed["huge"]["reason"]


# --- RBAC with a user's own credentials ----------------------------------------


def test_kubeconfig_is_bound_to_the_users_namespace(
    platform: Platform, alice_kubeconfig: Path
) -> None:
    kc = yaml.safe_load(alice_kubeconfig.read_text())
    assert kc["contexts"][0]["context"]["namespace"] == f"dev-{platform.user('alice')}"
    assert set(kc["users"][0]["user"]) == {"token"}


@pytest.mark.parametrize(
    ("verb", "resource", "where", "allowed"),
    [
        ("create", "deployments.apps", "alice", True),
        ("delete", "secrets", "alice", True),
        ("create", "pods --subresource=portforward", "alice", True),
        ("get", "pods --subresource=portforward", "alice", True),
        ("get", "pods --subresource=portforward", "bob", False),
        ("get", "pods --subresource=exec", "alice", False),
        ("create", "pods --subresource=exec", "alice", False),
        ("list", "pods", "bob", False),
        ("get", "secrets", "bob", False),
        ("create", "pods --subresource=exec", "bob", False),
        ("create", "pods --subresource=portforward", "bob", False),
        ("delete", "deployments.apps", "bob", False),
        ("get", "configmaps/flavors", "system", True),
        ("update", "configmaps/flavors", "system", False),
        ("delete", "configmaps/flavors", "system", False),
        ("create", "rolebindings.rbac.authorization.k8s.io", "alice", False),
    ],
)
def test_kubectl_auth_can_i_with_the_users_kubeconfig(
    platform: Platform, alice_kubeconfig: Path, verb: str, resource: str, where: str, allowed: bool
) -> None:
    namespace = platform.system if where == "system" else f"dev-{platform.user(where)}"
    env = {**platform.env, "KUBECONFIG": str(alice_kubeconfig)}
    result = run(["kubectl", "auth", "can-i", verb, *resource.split(), "-n", namespace], env)

    assert result.stdout.strip() == ("yes" if allowed else "no"), result.stderr


@pytest.fixture(scope="module")
def bob_pod(platform: Platform, core: client.CoreV1Api) -> Iterator[str]:
    """A running pod and a Secret in Bob's namespace, made by the admin."""
    namespace = f"dev-{platform.user('bob')}"
    core.create_namespaced_secret(
        namespace,
        client.V1Secret(metadata=client.V1ObjectMeta(name="bob-secret"), string_data={"k": "v"}),
    )
    limits = {"cpu": "100m", "memory": "64Mi"}
    core.create_namespaced_pod(
        namespace,
        client.V1Pod(
            metadata=client.V1ObjectMeta(name="bob-pod"),
            spec=client.V1PodSpec(
                security_context=client.V1PodSecurityContext(
                    run_as_non_root=True,
                    run_as_user=1000,
                    seccomp_profile=client.V1SeccompProfile(type="RuntimeDefault"),
                ),
                containers=[
                    client.V1Container(
                        name="main",
                        image="busybox:1",
                        resources=client.V1ResourceRequirements(requests=limits, limits=limits),
                        security_context=client.V1SecurityContext(
                            allow_privilege_escalation=False,
                            capabilities=client.V1Capabilities(drop=["ALL"]),
                        ),
                    )
                ],
            ),
        ),
    )
    yield "bob-pod"


def test_user_is_forbidden_in_the_other_users_namespace_and_on_the_catalog(
    platform: Platform, alice_kubeconfig: Path, bob_pod: str
) -> None:
    alice = client.CoreV1Api(config.new_client_from_config(config_file=str(alice_kubeconfig)))
    apps = client.AppsV1Api(alice.api_client)
    bob = f"dev-{platform.user('bob')}"

    assert forbidden(lambda: alice.list_namespaced_pod(bob))
    assert forbidden(lambda: alice.list_namespaced_secret(bob))
    assert forbidden(lambda: alice.read_namespaced_secret("bob-secret", bob))
    assert forbidden(lambda: apps.list_namespaced_deployment(bob))
    assert forbidden(lambda: alice.connect_post_namespaced_pod_exec(bob_pod, bob, command=["id"]))
    assert forbidden(
        lambda: alice.connect_post_namespaced_pod_portforward(bob_pod, bob, ports="22")
    )
    assert forbidden(lambda: alice.connect_get_namespaced_pod_portforward(bob_pod, bob, ports="22"))
    assert forbidden(lambda: alice.delete_namespaced_pod(bob_pod, bob))
    assert forbidden(lambda: alice.delete_namespace(bob))
    assert forbidden(
        lambda: alice.patch_namespaced_config_map(
            "flavors", platform.system, {"data": {"cpu-small": "stolen"}}
        )
    )
    assert forbidden(lambda: alice.delete_namespaced_config_map("flavors", platform.system))
    assert alice.read_namespaced_config_map("flavors", platform.system).data


def test_user_creates_lists_and_deletes_own_devservers_with_own_credentials(
    platform: Platform, user_env: Callable[..., dict], alice_kubeconfig: Path
) -> None:
    env = user_env("alice", alice_kubeconfig)

    unknown = devctl(env, "create", "box", "--flavor", "nope")
    assert unknown.returncode == 2
    assert "unknown flavor 'nope'" in unknown.stderr and "cpu-small" in unknown.stderr

    created = devctl(env, "create", "box", "-o", "json")
    assert created.returncode == 0, created.stderr
    server = json.loads(created.stdout)["server"]
    assert (server["status"], server["flavor"]) == ("Running", "cpu-small")
    assert server["namespace"] == f"dev-{platform.user('alice')}"
    try:
        listed = devctl(env, "list", "-o", "json")
        assert listed.returncode == 0, listed.stderr
        assert [s["name"] for s in json.loads(listed.stdout)] == ["box"]

        flavors = devctl(env, "flavors", "-o", "json")
        assert flavors.returncode == 0, flavors.stderr
        assert {f["schedulable"] for f in json.loads(flavors.stdout)} == {None}

        # Authorized to port-forward to the own pod (the API then wants a protocol upgrade).
        alice = client.CoreV1Api(config.new_client_from_config(config_file=str(alice_kubeconfig)))
        pod = alice.list_namespaced_pod(server["namespace"]).items[0].metadata.name
        for connect in (
            alice.connect_get_namespaced_pod_portforward,
            alice.connect_post_namespaced_pod_portforward,
        ):
            with pytest.raises(client.ApiException) as refused:
                connect(pod, server["namespace"], ports="2222")
            assert refused.value.status != 403

        elsewhere = devctl(env, "--user", platform.user("bob"), "list")
        assert elsewhere.returncode == 5
        assert "forbidden to these credentials (403" in elsewhere.stderr
    finally:
        deleted = devctl(env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert json.loads(devctl(env, "list", "-o", "json").stdout) == []


# --- changing a flavor -----------------------------------------------------------


def test_flavor_memory_change_updates_the_catalog_and_no_devserver(
    platform: Platform,
    user_env: Callable[..., dict],
    apps: client.AppsV1Api,
    core: client.CoreV1Api,
) -> None:
    env = user_env("bob")
    namespace = f"dev-{platform.user('bob')}"
    assert devctl(env, "create", "keep", "--no-wait").returncode == 0
    try:
        before = apps.read_namespaced_deployment("keep", namespace)
        changed = copy.deepcopy(platform.config)
        changed["devservers:flavors"][0]["memory_limit"] = "12Gi"
        platform.write(changed)

        preview = platform.pulumi("preview", "--json")
        assert preview.returncode == 0, preview.stderr
        steps = [s for s in json.loads(preview.stdout)["steps"] if s["op"] != "same"]
        assert [(s["op"], s["urn"].rsplit("::", 1)[1]) for s in steps] == [
            ("update", "platform-catalog-configmap")
        ]
        up = platform.up()
        assert up.returncode == 0, up.stdout + up.stderr

        entry = yaml.safe_load(
            core.read_namespaced_config_map("flavors", platform.system).data["cpu-small"]
        )
        assert entry["memory_limit"] == "12Gi"
        after = apps.read_namespaced_deployment("keep", namespace)
        # The generation counts changes of the spec; the status changes as the real pod starts.
        assert after.metadata.generation == before.metadata.generation
        limits = after.spec.template.spec.containers[0].resources.limits
        assert limits["memory"] == "8Gi"
        listed = json.loads(devctl(user_env("admin"), "flavors", "-o", "json").stdout)
        assert listed[0]["memory_limit"] == "12Gi"
    finally:
        platform.write(platform.config)
        assert devctl(env, "delete", "keep", "--yes").returncode == 0


# --- invalid stack config ----------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(kubeconfig: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A second, never deployed stack for configs that must fail at preview."""
    with new_stack("bad", tmp_path_factory) as found:
        yield found


def _two_defaults(c: dict[str, Any]) -> None:
    c["devservers:flavors"][1]["default"] = True


def _requests_over_limits(c: dict[str, Any]) -> None:
    c["devservers:flavors"][2]["cpu_request"] = "12"


def _bad_user_name(c: dict[str, Any]) -> None:
    c["devservers:users"][0]["name"] = "Alice_Admin"


def _misspelt_key(c: dict[str, Any]) -> None:
    c["devservers:flavours"] = c.pop("devservers:flavors")


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (_two_defaults, "devservers:flavors: exactly one flavor must have default: true"),
        (
            _requests_over_limits,
            "devservers:flavors[2] (gpu-small): flavor gpu-small: cpu request 12",
        ),
        (_bad_user_name, "devservers:users[0].name (Alice_Admin): user 'Alice_Admin'"),
        (_misspelt_key, "devservers:flavours: unknown key"),
    ],
)
def test_invalid_config_fails_at_preview_naming_the_key(
    scratch: Platform, core: client.CoreV1Api, change: Callable[[dict], None], named: str
) -> None:
    config_values = copy.deepcopy(scratch.config)
    change(config_values)
    scratch.write(config_values)

    result = scratch.pulumi("preview")
    assert result.returncode != 0
    assert named in result.stdout + result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    with pytest.raises(client.ApiException) as missing:
        core.read_namespace(scratch.system)
    assert missing.value.status == 404


# --- a second platform stack on the same cluster ----------------------------------


def platform_objects(platform: Platform) -> dict[tuple[str, str, str], str]:
    """resourceVersion of every object of ``platform``, by (kind, namespace, name)."""
    kinds = "namespaces,configmaps,serviceaccounts,roles,rolebindings,resourcequotas,limitranges"
    kinds += ",cronjobs,clusterroles,clusterrolebindings"
    selector = "app.kubernetes.io/part-of=devservers-platform"
    listed = run(["kubectl", "get", kinds, "-A", "-l", selector, "-o", "json"], platform.env)
    assert listed.returncode == 0, listed.stderr
    found = {}
    for item in json.loads(listed.stdout)["items"]:
        meta = item["metadata"]
        if platform.suffix in meta.get("namespace", meta["name"]):
            found[(item["kind"], meta.get("namespace", ""), meta["name"])] = meta["resourceVersion"]
    return found


def owner_of(platform: Platform) -> str:
    return (
        f"organization/devservers-platform/{platform.stack} "
        f"(backend {platform.env['PULUMI_BACKEND_URL']})"
    )


@pytest.fixture(scope="module")
def rival(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """A second stack with the same config (so the same namespaces) and a backend of its own."""
    with new_stack("test", tmp_path_factory) as found:
        found.config = platform.config
        found.write(found.config)
        yield found


def test_second_stack_is_refused_naming_the_owner_and_changes_nothing(
    platform: Platform, rival: Platform
) -> None:
    before = platform_objects(platform)
    assert len(before) > 20

    refused = rival.up()

    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    namespaces = f"dev-{platform.user('alice')}, dev-{platform.user('bob')}, {platform.system}"
    assert f"platform stack {owner_of(platform)} owns namespace(s) {namespaces}" in output
    assert f"not this stack {owner_of(rival)}" in output
    assert "kubectl annotate namespace" in output
    assert "Traceback" not in output
    assert platform_objects(platform) == before
    again = platform.up()  # the owner goes on (earlier tests may have left it a change to make)
    assert again.returncode == 0, again.stdout + again.stderr


def test_namespaces_handed_over_on_purpose_are_taken_over(
    platform: Platform, rival: Platform, core: client.CoreV1Api
) -> None:
    users = [f"dev-{platform.user(u)}" for u in ("alice", "bob")]
    hand_over = [
        "kubectl",
        "annotate",
        "namespace",
        platform.system,
        *users,
        "devservers.dev/platform-stack-",
        "devservers.dev/platform-backend-",
    ]
    assert run(hand_over, platform.env).returncode == 0

    taken = rival.up()

    assert taken.returncode == 0, taken.stdout + taken.stderr
    owner = core.read_namespace(platform.system).metadata.annotations
    assert owner["devservers.dev/platform-stack"].endswith(f"/{rival.stack}")
    refused = platform.up()
    assert refused.returncode != 0
    assert f"platform stack {owner_of(rival)} owns" in refused.stdout + refused.stderr
    # ... and back, the same way.
    assert run(hand_over, platform.env).returncode == 0
    back = platform.up()
    assert back.returncode == 0, back.stdout + back.stderr


# --- make platform ------------------------------------------------------------------


def git_status() -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def test_make_platform_twice_changes_no_tracked_file(
    kubeconfig: Path, core: client.CoreV1Api, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    config = stack_config(suffix)
    source = tmp_path / "platform.yaml"
    source.write_text(yaml.safe_dump({"config": config}))
    env = pulumi_env(tmp_path / "state")
    if "DEVSERVERS_CLUSTER_NAME" in os.environ:  # the Makefile's cluster is the tests' one
        env["DEVSERVERS_CLUSTER_NAME"] = os.environ["DEVSERVERS_CLUSTER_NAME"]
    local = REPO / "Pulumi.local.yaml"  # rewritten by every run; put back after
    kept = local.read_bytes() if local.exists() else None
    example, status = EXAMPLE.read_bytes(), git_status()
    try:
        for _ in range(2):
            made = run(["make", "-s", "platform", f"PLATFORM_CONFIG={source}"], env)
            assert made.returncode == 0, made.stdout + made.stderr
            assert EXAMPLE.read_bytes() == example
            assert git_status() == status
        assert re.search(r"Resources:\s+\d+ unchanged\n", made.stdout), made.stdout
        assert core.read_namespace(config["devservers:system_namespace"])
    finally:
        stack = ["--stack", "local", "--non-interactive"]
        run(["pulumi", "destroy", "--yes", "--skip-preview", *stack], env)
        run(["pulumi", "stack", "rm", "--yes", "--force", *stack], env)
        for user in config["devservers:users"]:
            _delete_namespace(core, f"dev-{user['name']}")
        if kept is None:
            local.unlink(missing_ok=True)
        else:
            local.write_bytes(kept)
