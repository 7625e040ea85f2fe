"""The platform components under Pulumi mocks: which objects, where, with which rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pytest
import yaml

from devservers.components.catalog import decode_catalog
from devservers.components.platform import Platform
from devservers.components.platform_owner import PlatformOwner
from devservers.components.platform_specs import PlatformSpec
from devservers.components.user_access import limit_range_item, quota_hard

EXAMPLE = Path(__file__).parents[2] / "Pulumi.example.yaml"
_SYSTEM = "devservers-system"


def example_spec(**changes: Any) -> PlatformSpec:
    config = yaml.safe_load(EXAMPLE.read_text())["config"]
    values = {key.removeprefix("devservers:"): value for key, value in config.items()}
    return PlatformSpec(**{**values, **changes})


def build(mocks, spec: PlatformSpec) -> dict[tuple[str, str], dict[str, Any]]:
    """Runs a Platform program; returns every Kubernetes object by (kind, namespace/name)."""
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        platform = Platform("platform", spec=spec)
        return pulumi.Output.all(platform.catalog, platform.user_namespaces).apply(
            lambda args: seen.update(catalog=args[0], users=args[1])
        )

    program()
    assert seen["catalog"] == "flavors"
    assert seen["users"] == {u.name: u.namespace for u in spec.users}
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for r in mocks.created:
        if r.typ.startswith("kubernetes:"):
            meta = r.inputs["metadata"]
            key = (r.typ.rsplit(":", 1)[1], f"{meta.get('namespace', '')}/{meta['name']}")
            assert key not in objects, f"{key} registered twice"
            objects[key] = r.inputs
    return objects


@pytest.fixture
def objects(pulumi_mocks) -> dict[tuple[str, str], dict[str, Any]]:
    return build(pulumi_mocks, example_spec())


def test_creates_system_namespace_catalog_and_per_user_objects(objects) -> None:
    expected = {("Namespace", f"/{_SYSTEM}"), ("ConfigMap", f"{_SYSTEM}/flavors")}
    expected.add(("Role", f"{_SYSTEM}/devservers-catalog-reader"))
    for user in ("alice", "bob"):
        ns = f"dev-{user}"
        expected |= {
            ("Namespace", f"/{ns}"),
            ("ServiceAccount", f"{ns}/devctl"),
            ("Role", f"{ns}/devservers-user"),
            ("RoleBinding", f"{ns}/devservers-user"),
            ("RoleBinding", f"{_SYSTEM}/devservers-catalog-{user}"),
            ("ClusterRole", f"/devservers-user-{user}"),
            ("ClusterRoleBinding", f"/devservers-user-{user}"),
            ("ConfigMap", f"{ns}/ssh-public-keys"),
            ("ResourceQuota", f"{ns}/devservers"),
        }
    expected.add(("LimitRange", "dev-bob/devservers"))

    assert set(objects) == expected


def test_catalog_config_map_publishes_every_flavor(objects) -> None:
    data = objects[("ConfigMap", f"{_SYSTEM}/flavors")]["data"]

    assert sorted(data) == ["cpu-large", "cpu-small", "gpu-large", "gpu-small"]
    assert {f.name for f in decode_catalog(data)} == set(data)


def test_user_role_manages_devserver_objects_in_own_namespace_only(objects) -> None:
    rules = objects[("Role", "dev-alice/devservers-user")]["rules"]
    verbs = {(r, v) for rule in rules for r in rule["resources"] for v in rule["verbs"]}

    assert {
        ("deployments", "create"),
        ("secrets", "delete"),
        ("pods/portforward", "create"),
        ("pods/portforward", "get"),
    } <= verbs
    assert ("pods", "list") in verbs
    assert not {r for r, _ in verbs} & {"pods/exec", "pods/attach", "roles", "rolebindings"}
    assert ("pods", "delete") not in verbs
    assert ("persistentvolumeclaims", "create") not in verbs
    binding = objects[("RoleBinding", "dev-alice/devservers-user")]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "devctl", "namespace": "dev-alice"}
    ]
    assert binding["roleRef"]["kind"] == "Role"


def test_catalog_is_readable_by_name_only(objects) -> None:
    reader = objects[("Role", f"{_SYSTEM}/devservers-catalog-reader")]["rules"]
    assert reader == [
        {
            "apiGroups": [""],
            "resources": ["configmaps"],
            "resourceNames": ["flavors"],
            "verbs": ["get"],
        }
    ]
    binding = objects[("RoleBinding", f"{_SYSTEM}/devservers-catalog-bob")]
    assert binding["roleRef"]["name"] == "devservers-catalog-reader"
    assert binding["subjects"][0]["namespace"] == "dev-bob"


def test_user_may_read_only_own_and_kube_system_namespace(objects) -> None:
    rules = objects[("ClusterRole", "/devservers-user-alice")]["rules"]

    assert rules == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": ["dev-alice", "kube-system"],
            "verbs": ["get"],
        }
    ]


def test_user_namespace_is_labelled_and_enforces_pod_security(objects) -> None:
    labels = objects[("Namespace", "/dev-alice")]["metadata"]["labels"]

    assert labels["app.kubernetes.io/managed-by"] == "devservers"
    assert labels["devservers.dev/owner"] == "alice"
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_quota_and_limit_range_follow_config(objects) -> None:
    assert objects[("ResourceQuota", "dev-alice/devservers")]["spec"]["hard"] == {
        "requests.cpu": "64",
        "requests.memory": "512Gi",
        "requests.nvidia.com/gpu": "8",
        "pods": "20",
    }
    assert objects[("ResourceQuota", "dev-bob/devservers")]["spec"]["hard"]["pods"] == "5"
    assert objects[("LimitRange", "dev-bob/devservers")]["spec"]["limits"] == [
        {"type": "Container", "max": {"cpu": "16", "memory": "64Gi"}}
    ]


def test_registered_keys_are_published(objects) -> None:
    keys = objects[("ConfigMap", "dev-alice/ssh-public-keys")]["data"]["authorized_keys"]

    assert keys.startswith("ssh-ed25519 ") and keys.endswith("alice@laptop\n")


def test_reaper_is_off_by_default(objects) -> None:
    assert not [key for key in objects if key[0] == "CronJob"]


def test_enabled_reaper_runs_once_per_schedule_never_overlapping(pulumi_mocks) -> None:
    reaper = {"enabled": True, "image": "registry.example/devservers:1", "env": {"A": "1"}}
    objects = build(pulumi_mocks, example_spec(reaper=reaper, users=()))

    job = objects[("CronJob", f"{_SYSTEM}/devservers-reaper")]["spec"]
    assert job["concurrencyPolicy"] == "Forbid"
    assert job["startingDeadlineSeconds"] == 120
    assert job["jobTemplate"]["spec"]["activeDeadlineSeconds"] == 1800
    pod = job["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["image"] == "registry.example/devservers:1"
    assert container["args"] == ["--once", "--output", "json"]
    assert container["env"] == [{"name": "A", "value": "1"}]
    # Pod Security "restricted": non-root, RuntimeDefault seccomp, nothing to escalate.
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    role = objects[("ClusterRole", f"/devservers-reaper-{_SYSTEM}")]
    assert any("deployments" in rule["resources"] for rule in role["rules"])
    assert ("ServiceAccount", f"{_SYSTEM}/devservers-reaper") in objects


def test_quota_and_limit_range_mapping() -> None:
    from devservers.components.platform_specs import LimitRangeSpec, QuotaSpec

    assert quota_hard(QuotaSpec(storage="1Ti", persistentvolumeclaims=4)) == {
        "requests.storage": "1Ti",
        "persistentvolumeclaims": "4",
    }
    assert limit_range_item(LimitRangeSpec(default_cpu="1", default_memory_request="1Gi")) == {
        "type": "Container",
        "default": {"cpu": "1"},
        "defaultRequest": {"memory": "1Gi"},
    }


def test_every_namespace_records_the_stack_that_made_it(pulumi_mocks) -> None:
    owner = PlatformOwner("organization/devservers-platform/prod", "file:///state")

    @pulumi.runtime.test
    def program():
        return Platform("platform", spec=example_spec(), owner=owner).catalog

    program()
    seen = [r.inputs["metadata"] for r in pulumi_mocks.created if r.typ.endswith(":Namespace")]
    assert sorted(m["name"] for m in seen) == ["dev-alice", "dev-bob", _SYSTEM]
    assert all(m["annotations"] == owner.annotations() for m in seen)
