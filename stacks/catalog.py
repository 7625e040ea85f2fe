"""Where devctl gets its flavors: a YAML file if configured, else the built-in catalog."""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from pydantic import ValidationError

from devservers.components.catalog import BUILTIN_FLAVORS, check_catalog
from devservers.components.specs import FlavorSpec
from devservers.stacks.errors import SpecError
from devservers.stacks.settings import Settings, describe_validation_error


@dataclass(frozen=True)
class Catalog:
    """The flavors in effect and where they came from (``built-in`` or a file path)."""

    flavors: tuple[FlavorSpec, ...]
    source: str


def load_catalog(settings: Settings) -> Catalog:
    """The flavor catalog: ``settings.flavors_file`` when set, else the built-in one.

    The file holds a YAML list of flavors (the fields of ``FlavorSpec``).

    Raises:
        SpecError: If the file is unreadable or a flavor is invalid; the
            message names the file and the flavor's position and field.
    """
    path = settings.flavors_file
    if path is None:
        return Catalog(BUILTIN_FLAVORS, "built-in")
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"flavors file {path} is not readable YAML: {exc}") from None
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
