"""Where devctl gets its flavors: a configured file, the platform's catalog, or the built-in one.

Precedence: ``settings.flavors_file`` when set; else the catalog ConfigMap
the platform stack publishes in ``settings.platform_namespace``; else, when
no platform is deployed there (the ConfigMap does not exist), the built-in
catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import ValidationError

from devservers.components.catalog import (
    BUILTIN_FLAVORS,
    CATALOG_CONFIGMAP,
    check_catalog,
    decode_catalog,
)
from devservers.components.specs import FlavorSpec
from devservers.stacks.base.errors import SpecError
from devservers.stacks.base.settings import Settings, describe_validation_error, yaml_problem
from devservers.stacks.kube.cluster import Cluster, connect

BUILTIN = "built-in"
"""``Catalog.source`` of the built-in catalog."""


@dataclass(frozen=True)
class Catalog:
    """The flavors in effect and where they came from.

    Attributes:
        source: ``built-in``, the flavors file's path, or
            ``configmap <namespace>/flavors`` for the platform's catalog.
        note: Why the built-in catalog is in effect, or ``None``.
    """

    flavors: tuple[FlavorSpec, ...]
    source: str
    note: str | None = None


def load_catalog(settings: Settings, cluster: Cluster | None = None) -> Catalog:
    """The flavor catalog in effect (file > platform ConfigMap > built-in).

    Args:
        settings: devctl settings (``flavors_file``, ``platform_namespace``).
        cluster: An open connection, or ``None`` to connect when needed.

    Raises:
        SpecError: If the file or the platform's ConfigMap holds an invalid
            catalog; the message names the file or ConfigMap and the entry.
        ClusterUnavailable: If the API server cannot be reached or refuses
            to let these credentials read the catalog.
    """
    if settings.flavors_file is not None:
        return _from_file(settings.flavors_file)
    namespace = settings.platform_namespace
    data = (cluster or connect(settings)).config_map(namespace, CATALOG_CONFIGMAP)
    where = f"configmap {namespace}/{CATALOG_CONFIGMAP}"
    if data is None:
        return Catalog(BUILTIN_FLAVORS, BUILTIN, f"no platform catalog ({where} not found)")
    try:
        return Catalog(decode_catalog(data), where)
    except ValueError as exc:
        raise SpecError(
            f"{where}: {exc}", hint="fix the platform stack config, then pulumi up"
        ) from None


def _from_file(path: Path) -> Catalog:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"flavors file {path} is not readable YAML: {yaml_problem(exc)}") from None
    if not isinstance(raw, list):
        raise SpecError(f"flavors file {path} must be a YAML list of flavors")
    flavors = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict):
            raise SpecError(f"flavors file {path}: item {index} must be a mapping of flavor fields")
        try:
            flavors.append(FlavorSpec(**item))
        except ValidationError as exc:
            where = f"item {index} ({item.get('name', '?')})"
            raise SpecError(
                f"flavors file {path}: {where}: {describe_validation_error(exc)}"
            ) from None
    try:
        return Catalog(check_catalog(tuple(flavors)), str(path))
    except ValueError as exc:
        raise SpecError(f"flavors file {path}: {exc}") from None
