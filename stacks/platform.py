"""The platform stack's program: what ``pulumi up`` in the repository root runs.

The program reads structured stack config (``Pulumi.<stack>.yaml``, config
namespace ``devservers``), validates all of it into a ``PlatformSpec``
before declaring anything, and builds one ``Platform`` component through an
explicit Kubernetes provider. Keys::

    devservers:system_namespace  namespace of the catalog (default devservers-system)
    devservers:flavors           list of flavors (the fields of FlavorSpec)
    devservers:users             list of users (name, ssh_public_keys, quota, limit_range)
    devservers:defaults          quota, limit_range, pod_security for every user
    devservers:reaper            the reaper CronJob (enabled: false by default)
    devservers:kubeconfig        kubeconfig path of the provider (default: $KUBECONFIG)
    devservers:context           kubeconfig context (default: the current one)

A bad value stops the program at preview with one line naming the key,
e.g. ``devservers:users[1].name: user 'Bob' must be lowercase ...``.

The stack records itself on every namespace it makes (its name and
backend, :mod:`devservers.components.platform_owner`) and, before it
declares anything, refuses namespaces another platform stack recorded: a
second stack (another backend, or another stack name) never takes over the
first one's objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
from pydantic import ValidationError

from devservers.components.platform import PLATFORM_LABELS, Platform
from devservers.components.platform_owner import (
    BACKEND,
    STACK,
    PlatformOwner,
    foreign_namespaces,
)
from devservers.components.platform_specs import PlatformSpec
from devservers.stacks.base.errors import Conflict, DevserversError, SpecError
from devservers.stacks.base.settings import Settings
from devservers.stacks.engine.backends import cli_backend
from devservers.stacks.kube.cluster import connect

CONFIG_NAMESPACE = "devservers"
"""Config namespace of every platform key (``devservers:<key>``)."""

SPEC_KEYS = tuple(PlatformSpec.model_fields)
"""Keys validated by ``PlatformSpec``."""

PROVIDER_KEYS = ("kubeconfig", "context")
"""Keys configuring the explicit Kubernetes provider (plain strings)."""


def platform_spec(values: Mapping[str, Any]) -> PlatformSpec:
    """Validates config values into the platform spec.

    Args:
        values: Mapping of key (without the ``devservers:`` namespace) → value
            as parsed from the stack config.

    Returns:
        The validated spec.

    Raises:
        SpecError: On an unknown key or an invalid value; the message names
            the key, with the list index and the item's name where there is one.
    """
    unknown = sorted(set(values) - set(SPEC_KEYS) - set(PROVIDER_KEYS))
    if unknown:
        known = ", ".join(f"{CONFIG_NAMESPACE}:{k}" for k in (*SPEC_KEYS, *PROVIDER_KEYS))
        raise SpecError(f"{CONFIG_NAMESPACE}:{unknown[0]}: unknown key (known keys: {known})")
    try:
        return PlatformSpec(**{k: v for k, v in values.items() if k in SPEC_KEYS})
    except ValidationError as exc:
        raise SpecError(describe_config_error(exc, values)) from None


def describe_config_error(exc: ValidationError, values: Mapping[str, Any]) -> str:
    """One line: the config key at fault (``devservers:flavors[1].cpu_request``) and why."""
    err = exc.errors()[0]
    loc = err["loc"] or ("",)
    key = f"{CONFIG_NAMESPACE}:{loc[0]}" + "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc[1:]
    )
    item = values.get(str(loc[0]))
    if len(loc) > 1 and isinstance(loc[1], int) and isinstance(item, list):
        name = item[loc[1]].get("name") if isinstance(item[loc[1]], dict) else None
        key += f" ({name})" if name else ""
    message = err["msg"].removeprefix("Value error, ")
    return f"{key}: {'unknown key' if err['type'] == 'extra_forbidden' else message}"


def read_config() -> dict[str, Any]:
    """The stack's ``devservers:*`` config: mapping of key → value (JSON parsed where it is)."""
    prefix = f"{CONFIG_NAMESPACE}:"
    keys = {k for k in pulumi.runtime.get_config_env() if k.startswith(prefix)}
    keys |= {prefix + k for k in (*SPEC_KEYS, *PROVIDER_KEYS)}
    values: dict[str, Any] = {}
    for full in sorted(keys):
        raw = pulumi.runtime.get_config(full)
        if raw is not None:
            values[full.removeprefix(prefix)] = _parse(full, raw)
    return values


def platform_program() -> None:
    """Declares the platform. Runs inside the engine (``pulumi up``/``preview``).

    Raises:
        pulumi.RunError: If the config is invalid (the message names the key),
            another platform stack owns one of its namespaces, or the cluster
            cannot be read; nothing is declared then.
    """
    values = read_config()
    owner = PlatformOwner(
        f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}",
        cli_backend(),
    )
    try:
        spec = platform_spec(values)
        refuse_foreign_namespaces(values, spec, owner)
    except DevserversError as exc:
        raise pulumi.RunError(f"{exc.message}: {exc.hint}" if exc.hint else exc.message) from None
    # Mutable ConfigMaps: a flavor change updates the catalog in place; the default
    # (replace) would delete it first and leave devctl without a catalog meanwhile.
    provider = k8s.Provider(
        "cluster",
        kubeconfig=values.get("kubeconfig"),
        context=values.get("context"),
        enable_config_map_mutable=True,
    )
    platform = Platform(
        "platform", spec=spec, owner=owner, opts=pulumi.ResourceOptions(providers=[provider])
    )
    pulumi.export("system_namespace", platform.system_namespace)
    pulumi.export("catalog", platform.catalog)
    pulumi.export("default_flavor", platform.default_flavor)
    pulumi.export("flavors", [f.name for f in spec.flavors])
    pulumi.export("user_namespaces", platform.user_namespaces)


def refuse_foreign_namespaces(
    values: Mapping[str, Any], spec: PlatformSpec, owner: PlatformOwner
) -> None:
    """Raises if another platform stack owns a namespace ``spec`` declares (one API call).

    Args:
        values: The stack's config (``kubeconfig``, ``context`` of the provider).
        spec: The validated platform.
        owner: This stack.

    Raises:
        Conflict: Naming the namespaces, the stack (and backend) that owns
            them, and the two ways on: that stack, or an explicit take-over.
        SpecError: The kubeconfig or context is bad.
        ClusterUnavailable: The API server cannot be reached.
    """
    cluster = connect(Settings(kubeconfig=values.get("kubeconfig"), context=values.get("context")))
    selector = ",".join(f"{key}={value}" for key, value in PLATFORM_LABELS.items())
    wanted = [spec.system_namespace, *(user.namespace for user in spec.users)]
    foreign = foreign_namespaces(cluster.labelled("namespaces", selector, None), wanted, owner)
    if foreign:
        owners = "; ".join(sorted({o.describe() for o in foreign.values()}))
        raise Conflict(
            f"platform stack {owners} owns namespace(s) {', '.join(foreign)}, "
            f"not this stack {owner.describe()}",
            hint="run 'pulumi up' of that stack instead, or take them over on purpose first: "
            f"kubectl annotate namespace {' '.join(foreign)} {STACK}- {BACKEND}-",
        )


def _parse(key: str, raw: str) -> Any:
    if key.removeprefix(f"{CONFIG_NAMESPACE}:") in PROVIDER_KEYS:
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw
