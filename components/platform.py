"""The admin platform: system namespace, flavor catalog, users and the optional reaper."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from devservers.components import labels as lbl
from devservers.components.flavor_catalog import FlavorCatalog
from devservers.components.platform_owner import PlatformOwner
from devservers.components.platform_specs import PlatformSpec
from devservers.components.reaper_job import ReaperCronJob
from devservers.components.user_access import User

PLATFORM_LABELS = {
    "app.kubernetes.io/managed-by": lbl.MANAGED_BY,
    "app.kubernetes.io/part-of": "devservers-platform",
}
"""Labels of every object the platform creates."""


class Platform(pulumi.ComponentResource):
    """Everything ``pulumi up`` on the platform project creates.

    Composed of the system Namespace, a :class:`FlavorCatalog`, one
    :class:`User` per user and, when enabled, a :class:`ReaperCronJob`.
    DevServer stacks never create or delete namespaces: the user namespaces
    made here are where they go.

    Args:
        name: Logical name of the component.
        spec: The validated platform config.
        owner: The stack declaring it, recorded on every namespace it makes
            (:mod:`.platform_owner`); ``None`` records none.
        opts: Resource options; pass the explicit Kubernetes provider here.

    Attributes:
        system_namespace: Namespace of the catalog (and the reaper).
        catalog: Name of the catalog ConfigMap.
        default_flavor: Name of the default flavor.
        user_namespaces: Mapping of user name → namespace.
    """

    system_namespace: pulumi.Output[str]
    catalog: pulumi.Output[str]
    default_flavor: pulumi.Output[str]
    user_namespaces: pulumi.Output[dict[str, str]]

    def __init__(
        self,
        name: str,
        *,
        spec: PlatformSpec,
        owner: PlatformOwner | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        force = pulumi.ResourceOptions(transforms=[_force_apply])
        super().__init__(
            "devservers:index:Platform", name, None, pulumi.ResourceOptions.merge(opts, force)
        )
        child = pulumi.ResourceOptions(parent=self)
        owned = owner.annotations() if owner else {}
        system = k8s.core.v1.Namespace(
            f"{name}-system",
            metadata={
                "name": spec.system_namespace,
                "labels": PLATFORM_LABELS,
                **({"annotations": owned} if owned else {}),
            },
            opts=child,
        )
        namespace = system.metadata.name
        catalog = FlavorCatalog(
            f"{name}-catalog",
            namespace=namespace,
            flavors=spec.flavors,
            labels=PLATFORM_LABELS,
            opts=child,
        )
        users = [
            User(
                user,
                system_namespace=namespace,
                catalog_reader_role=catalog.reader_role,
                quota=spec.quota_of(user),
                limit_range=spec.limit_range_of(user),
                pod_security=spec.defaults.pod_security,
                labels=PLATFORM_LABELS,
                namespace_annotations=owned,
                opts=child,
            )
            for user in spec.users
        ]
        if spec.reaper.enabled:
            ReaperCronJob(
                f"{name}-reaper",
                spec=spec.reaper,
                namespace=namespace,
                labels=PLATFORM_LABELS,
                opts=child,
            )
        self.system_namespace = namespace
        self.catalog = catalog.configmap
        self.default_flavor = catalog.default_flavor
        namespaces = {
            user.name: made.namespace for user, made in zip(spec.users, users, strict=True)
        }
        self.user_namespaces = (
            pulumi.Output.all(**namespaces) if namespaces else pulumi.Output.from_input({})
        )
        self.register_outputs(
            {
                "system_namespace": self.system_namespace,
                "catalog": self.catalog,
                "default_flavor": self.default_flavor,
                "user_namespaces": self.user_namespaces,
            }
        )


def _force_apply(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
    """Adds :data:`~.labels.FORCE_APPLY` to every Kubernetes object of the platform.

    Server-side apply then takes over fields another field manager set (an
    edit by hand, a stack whose namespaces an admin handed over on purpose)
    instead of failing with a field conflict. Another platform stack's
    namespaces are refused before anything is applied (:mod:`.platform_owner`).
    """
    if not args.type_.startswith("kubernetes:"):
        return None
    meta = dict(args.props.get("metadata") or {})
    meta["annotations"] = {**(meta.get("annotations") or {}), **lbl.FORCE_APPLY}
    return pulumi.ResourceTransformResult({**args.props, "metadata": meta}, args.opts)
