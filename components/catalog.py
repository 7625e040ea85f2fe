"""The built-in flavor catalog: used only when no platform stack has published one.

Sizes follow common cloud shapes for ML work: CPU flavors for editing and
data prep, GPU flavors pinned to NVIDIA nodes (``nvidia.com/gpu`` extended
resource, ``nvidia.com/gpu`` NoSchedule taint as set by GPU node pools).
"""

from __future__ import annotations

from devservers.components.specs import FlavorSpec, Toleration

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
        f"unknown flavor {name!r}; known flavors: {known}" if name else "no default flavor"
    )
