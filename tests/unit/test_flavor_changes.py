"""How a flavor's current definition differs from the one a server was sized by."""

from __future__ import annotations

from devservers.components.catalog import BUILTIN_FLAVORS, find_flavor
from devservers.components.flavor_changes import flavor_changes
from devservers.components.specs import Toleration, VolumeSpec

GPU_SMALL = find_flavor(BUILTIN_FLAVORS, "gpu-small")


def test_an_unchanged_flavor_has_no_changes() -> None:
    assert flavor_changes(GPU_SMALL, GPU_SMALL) == ()


def test_each_changed_field_is_named_with_both_values_in_a_fixed_order() -> None:
    current = GPU_SMALL.model_copy(update={"memory_limit": "128Gi", "gpus": 2, "shm_size": "32Gi"})
    assert [str(c) for c in flavor_changes(GPU_SMALL, current)] == [
        "memory limit 64Gi → 128Gi",
        "nvidia.com/gpu 1 → 2",
        "/dev/shm 16Gi → 32Gi",
    ]


def test_quantities_are_compared_by_value_not_spelling() -> None:
    current = GPU_SMALL.model_copy(update={"memory_request": "32768Mi", "cpu_limit": "8000m"})
    assert flavor_changes(GPU_SMALL, current) == ()


def test_scheduling_and_default_volumes_count_description_and_idle_timeout_do_not() -> None:
    current = GPU_SMALL.model_copy(
        update={
            "description": "renamed",
            "idle_timeout": "2h",
            "node_selector": {"pool": "a100"},
            "tolerations": (Toleration(key="pool", value="a100", effect="NoSchedule"),),
            "default_volumes": (VolumeSpec.parse("models:/models:ro"),),
        }
    )
    assert [str(c) for c in flavor_changes(GPU_SMALL, current)] == [
        "nodeSelector nvidia.com/gpu.present=true → pool=a100",
        "tolerations nvidia.com/gpu:NoSchedule → pool=a100:NoSchedule",
        "default volumes none → models:/models:ro",
    ]
