"""The flavor catalog of the platform: one ``Flavor`` per size, published as a ConfigMap."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi
import pulumi_kubernetes as k8s

from devservers.components import rbac
from devservers.components.catalog import CATALOG_CONFIGMAP, check_catalog, encode_flavor
from devservers.components.specs import FlavorSpec

CATALOG_READER_ROLE = "devservers-catalog-reader"
"""Role in the system namespace allowing ``get`` on the catalog ConfigMap only."""


class Flavor(pulumi.ComponentResource):
    """One validated flavor of the platform's catalog.

    Creates no Kubernetes object itself: :class:`FlavorCatalog` publishes
    every flavor's ``entry`` in one ConfigMap. Its outputs show the sizing in
    ``pulumi preview`` and ``pulumi stack``.

    Attributes:
        spec: The validated flavor (requests ≤ limits, GPU count, scheduling).
        entry: The flavor's catalog text (``FlavorSpec`` fields as YAML).
    """

    entry: pulumi.Output[str]

    def __init__(self, spec: FlavorSpec, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("devservers:index:Flavor", spec.name, None, opts)
        self.spec = spec
        self.entry = pulumi.Output.from_input(encode_flavor(spec))
        self.register_outputs({"entry": self.entry})


class FlavorCatalog(pulumi.ComponentResource):
    """The catalog ConfigMap ``flavors`` and the Role that lets users read it.

    Args:
        name: Logical name of the component.
        namespace: The system namespace holding the catalog.
        flavors: The flavors; checked by :func:`check_catalog` (unique
            names, exactly one ``default: true``).
        labels: Labels of every object (mapping of label key → value).
        opts: Resource options; pass the explicit Kubernetes provider here.

    Attributes:
        configmap: Name of the catalog ConfigMap.
        reader_role: Name of the Role granting ``get`` on that ConfigMap only.
        default_flavor: Name of the default flavor.

    Raises:
        ValueError: If the catalog breaks the rules of :func:`check_catalog`.
    """

    configmap: pulumi.Output[str]
    reader_role: pulumi.Output[str]
    default_flavor: pulumi.Output[str]

    def __init__(
        self,
        name: str,
        *,
        namespace: pulumi.Input[str],
        flavors: Sequence[FlavorSpec],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("devservers:index:FlavorCatalog", name, None, opts)
        checked = check_catalog(tuple(flavors))
        child = pulumi.ResourceOptions(parent=self)
        entries = [Flavor(spec, opts=child) for spec in checked]
        configmap = k8s.core.v1.ConfigMap(
            f"{name}-configmap",
            metadata={"name": CATALOG_CONFIGMAP, "namespace": namespace, "labels": dict(labels)},
            data={flavor.spec.name: flavor.entry for flavor in entries},
            opts=child,
        )
        role = k8s.rbac.v1.Role(
            f"{name}-reader",
            metadata={"name": CATALOG_READER_ROLE, "namespace": namespace, "labels": dict(labels)},
            rules=rbac.configmap_reader_rules(CATALOG_CONFIGMAP),
            opts=child,
        )
        self.configmap = configmap.metadata.name
        self.reader_role = role.metadata.name
        self.default_flavor = pulumi.Output.from_input(next(f.name for f in checked if f.default))
        self.register_outputs(
            {
                "configmap": self.configmap,
                "reader_role": self.reader_role,
                "default_flavor": self.default_flavor,
            }
        )
