"""The built-in flavor catalog: used only when no platform stack has published one.

Sizes follow common cloud shapes for ML work: CPU flavors for editing and
data prep, GPU flavors pinned to NVIDIA nodes (``nvidia.com/gpu`` extended
resource, ``nvidia.com/gpu`` NoSchedule taint as set by GPU node pools).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

import yaml
from kubernetes.utils.quantity import parse_quantity
from pydantic import ValidationError

from devservers.components.specs import FlavorSpec, Toleration

CATALOG_CONFIGMAP = "flavors"
"""Name of the ConfigMap, in the platform's system namespace, that publishes the catalog.

One data key per flavor (the flavor's name); each value is that flavor's
``FlavorSpec`` fields as YAML. One key per flavor keeps a change to one
flavor a change to one key.
"""

_GPU_SCHEDULING = {
    "node_selector": {"nvidia.com/gpu.present": "true"},
    "tolerations": (Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule"),),
}

BUILTIN_FLAVORS: tuple[FlavorSpec, ...] = (
    FlavorSpec(
        name="cpu-small",
        description="2 CPU, 8 GiB",
        default=True,
        cpu_request="1",
        cpu_limit="2",
        memory_request="4Gi",
        memory_limit="8Gi",
        shm_size="1Gi",
    ),
    FlavorSpec(
        name="cpu-large",
        description="16 CPU, 64 GiB",
        cpu_request="8",
        cpu_limit="16",
        memory_request="32Gi",
        memory_limit="64Gi",
        shm_size="8Gi",
    ),
    FlavorSpec(
        name="gpu-small",
        description="1 GPU, 8 CPU, 64 GiB",
        gpus=1,
        cpu_request="4",
        cpu_limit="8",
        memory_request="32Gi",
        memory_limit="64Gi",
        shm_size="16Gi",
        **_GPU_SCHEDULING,
    ),
    FlavorSpec(
        name="gpu-large",
        description="8 GPU, 48 CPU, 400 GiB",
        gpus=8,
        cpu_request="32",
        cpu_limit="48",
        memory_request="256Gi",
        memory_limit="400Gi",
        shm_size="64Gi",
        **_GPU_SCHEDULING,
    ),
)


def check_catalog(flavors: tuple[FlavorSpec, ...]) -> tuple[FlavorSpec, ...]:
    """Checks a catalog: at least one flavor, unique names, exactly one ``default: true``.

    Raises:
        ValueError: Naming the duplicate flavor or the defaults found.
    """
    names = [f.name for f in flavors]
    if not names:
        raise ValueError("the flavor catalog is empty")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"flavor {duplicates[0]!r} is defined more than once")
    defaults = [f.name for f in flavors if f.default]
    if len(defaults) != 1:
        raise ValueError(f"exactly one flavor must have default: true (found {defaults or 'none'})")
    return flavors


def find_flavor(flavors: tuple[FlavorSpec, ...], name: str | None) -> FlavorSpec:
    """The flavor called ``name``, or the default one when ``name`` is ``None``.

    Raises:
        LookupError: If no flavor has that name (the message lists the known ones).
    """
    for flavor in flavors:
        if (name is None and flavor.default) or flavor.name == name:
            return flavor
    known = ", ".join(f.name for f in flavors)
    raise LookupError(
        f"unknown flavor {name!r}; known flavors: {known}"
        if name is not None
        else "no default flavor"
    )


def encode_flavor(flavor: FlavorSpec) -> str:
    """The catalog entry of one flavor: its ``FlavorSpec`` fields as YAML, in field order."""
    return yaml.safe_dump(flavor.model_dump(mode="json"), sort_keys=False)


def decode_catalog(data: Mapping[str, str]) -> tuple[FlavorSpec, ...]:
    """Reads the catalog ConfigMap's ``data`` back into checked flavors, smallest first.

    Flavors are ordered by GPUs, then CPU and memory requests, then name.

    Raises:
        ValueError: Naming the entry that is not a valid flavor, or breaking
            the catalog rules of :func:`check_catalog`.
    """
    flavors = []
    for key in sorted(data):
        try:
            fields = yaml.safe_load(data[key])
            flavor = FlavorSpec(**fields)
        except (yaml.YAMLError, TypeError, ValidationError) as exc:
            raise ValueError(f"catalog entry {key!r} is not a valid flavor: {exc}") from None
        if flavor.name != key:
            raise ValueError(f"catalog entry {key!r} holds flavor {flavor.name!r}")
        flavors.append(flavor)
    return check_catalog(tuple(sorted(flavors, key=_size)))


def _size(flavor: FlavorSpec) -> tuple[int, Decimal, Decimal, str]:
    return (
        flavor.gpus,
        parse_quantity(flavor.cpu_request),
        parse_quantity(flavor.memory_request),
        flavor.name,
    )
