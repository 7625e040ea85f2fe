"""The platform stack config: the shipped example, and bad values named by their key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from devservers.components.catalog import decode_catalog, encode_flavor
from devservers.components.platform_specs import PlatformSpec, QuotaSpec, ReaperSpec, UserSpec
from devservers.stacks import SpecError
from devservers.stacks.platform import platform_spec

EXAMPLE = Path(__file__).parents[2] / "Pulumi.example.yaml"


@pytest.fixture
def example() -> dict[str, Any]:
    """The example stack config as the program sees it: key (no namespace) → value."""
    config = yaml.safe_load(EXAMPLE.read_text())["config"]
    return {key.removeprefix("devservers:"): value for key, value in config.items()}


def refused(values: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as info:
        platform_spec(values)
    return info.value.message


def test_example_config_is_valid_with_two_users_and_one_default(example) -> None:
    spec = platform_spec(example)

    assert len(spec.users) >= 2
    assert [f.name for f in spec.flavors if f.default] == ["cpu-small"]
    assert spec.system_namespace == "devservers-system"
    assert spec.reaper.enabled is False
    bob = next(u for u in spec.users if u.name == "bob")
    assert spec.quota_of(bob).gpus == 1
    alice = next(u for u in spec.users if u.name == "alice")
    assert spec.quota_of(alice) == spec.defaults.quota
    assert spec.limit_range_of(alice) is None


def test_two_defaults_name_the_flavors_key(example) -> None:
    example["flavors"][1]["default"] = True

    message = refused(example)
    assert message.startswith("devservers:flavors: ")
    assert "cpu-small" in message and "cpu-large" in message


def test_requests_over_limits_name_the_flavor(example) -> None:
    example["flavors"][1]["memory_request"] = "128Gi"

    message = refused(example)
    assert message.startswith("devservers:flavors[1] (cpu-large): ")
    assert "memory request 128Gi exceeds its limit 64Gi" in message


def test_bad_user_name_names_the_key(example) -> None:
    example["users"][1]["name"] = "Bob"

    message = refused(example)
    assert message.startswith("devservers:users[1].name (Bob): ")
    assert "'Bob'" in message


@pytest.mark.parametrize(
    ("change", "key"),
    [
        (lambda c: c.update(flavours=[]), "devservers:flavours: unknown key"),
        (lambda c: c["users"][0].update(colour="red"), "devservers:users[0].colour (alice)"),
        (lambda c: c["users"].append(copy.deepcopy(c["users"][0])), "devservers:users: "),
        (lambda c: c["users"][0].update(ssh_public_keys=["nope"]), "users[0].ssh_public_keys"),
        (lambda c: c["defaults"]["quota"].update(cpu="lots"), "devservers:defaults.quota.cpu"),
        (lambda c: c["defaults"].update(pod_security="open"), "devservers:defaults.pod_security"),
        (lambda c: c["reaper"].update(enabled=True), "devservers:reaper: "),
        (lambda c: c.update(system_namespace="Sys"), "devservers:system_namespace"),
        (lambda c: c.pop("flavors"), "devservers:flavors: "),
    ],
)
def test_bad_value_is_named_by_its_key(example, change, key: str) -> None:
    change(example)

    assert key in refused(example)


def test_user_keys_are_normalised_and_private_keys_refused(make_public_key, make_private_key):
    key = make_public_key("ed25519", "a@b")
    user = UserSpec(name="alice", ssh_public_keys=(f"  {key}  ", key))

    assert user.ssh_public_keys == (key,)
    assert user.namespace == "dev-alice"
    with pytest.raises(ValueError, match="PRIVATE"):
        UserSpec(name="alice", ssh_public_keys=(make_private_key(),))


def test_empty_quota_and_reaper_without_image_are_refused() -> None:
    with pytest.raises(ValueError, match="quota sets nothing"):
        QuotaSpec()
    with pytest.raises(ValueError, match="image must be set"):
        ReaperSpec(enabled=True)
    with pytest.raises(ValueError, match="5 cron fields"):
        ReaperSpec(schedule="hourly")


def test_user_may_not_take_the_system_namespace(example) -> None:
    example["system_namespace"] = "dev-alice"

    assert refused(example).startswith("devservers:users: user 'alice' would share")


def test_catalog_entries_round_trip_smallest_first(example) -> None:
    spec = PlatformSpec(**example)
    data = {f.name: encode_flavor(f) for f in reversed(spec.flavors)}

    flavors = decode_catalog(data)
    assert [f.name for f in flavors] == ["cpu-small", "cpu-large", "gpu-small", "gpu-large"]
    assert sorted(flavors, key=str) == sorted(spec.flavors, key=str)


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"a": "name: b\ncpu_request: '1'\n"}, "'a'"),
        ({"tiny": "[unclosed"}, "'tiny'"),
        ({}, "empty"),
    ],
)
def test_bad_catalog_data_is_refused(data: dict[str, str], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        decode_catalog(data)
