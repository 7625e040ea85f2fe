"""The flavor catalog: built-in, or replaced by a YAML file named in the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from devservers.components.catalog import BUILTIN_FLAVORS, check_catalog, find_flavor
from devservers.stacks import SpecError, load_settings
from devservers.stacks.kube.catalog import load_catalog

SMALL = "{name: tiny, cpu_request: '1', cpu_limit: '1', memory_request: 1Gi, memory_limit: 1Gi"


def catalog_from(tmp_path: Path, text: str):
    path = tmp_path / "flavors.yaml"
    path.write_text(text)
    return load_catalog(load_settings(tmp_path / "none.yaml", flavors_file=path, user="alice"))


def test_builtin_catalog_has_one_default_and_gpu_flavors_tolerate_gpu_taint() -> None:
    assert check_catalog(BUILTIN_FLAVORS) == BUILTIN_FLAVORS
    assert find_flavor(BUILTIN_FLAVORS, None).name == "cpu-small"
    gpu = find_flavor(BUILTIN_FLAVORS, "gpu-small")
    assert gpu.gpus == 1
    assert [t.key for t in gpu.tolerations] == ["nvidia.com/gpu"]


def test_unknown_flavor_lists_known_ones() -> None:
    with pytest.raises(LookupError, match="cpu-small"):
        find_flavor(BUILTIN_FLAVORS, "huge")


def test_file_replaces_the_builtin_catalog(tmp_path: Path) -> None:
    catalog = catalog_from(tmp_path, f"- {SMALL}, default: true}}\n")
    assert [f.name for f in catalog.flavors] == ["tiny"]
    assert catalog.source.endswith("flavors.yaml")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (f"- {SMALL}}}\n", "default"),
        (f"- {SMALL}, default: true}}\n- {SMALL}, default: true}}\n", "tiny"),
        (f"- {SMALL}, default: true, cpu_limit: 500m}}\n", "cpu request"),
        (f"- {SMALL}, default: true, colour: red}}\n", "colour"),
        ("- just-a-name\n", "item 0"),
        ("name: tiny\n", "list"),
        ("- [unclosed\n", "YAML"),
    ],
)
def test_bad_flavors_file_is_refused_with_the_reason(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(SpecError, match="flavors.yaml") as info:
        catalog_from(tmp_path, text)
    assert named in info.value.message
