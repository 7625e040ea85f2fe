"""Admin operations on the platform's users: credentials for a user's ServiceAccount.

The kubeconfig carries a token from the TokenRequest API
(``authentication.k8s.io/v1``, ``serviceaccounts/token``) for the
ServiceAccount the platform made in ``dev-<user>``: bound to that account,
with an expiry, never stored in a Secret. The cluster's server and CA come
from the admin's own kubeconfig.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from devservers.components import naming
from devservers.components.platform_specs import USER_SERVICE_ACCOUNT
from devservers.stacks.base.errors import SpecError
from devservers.stacks.base.settings import Settings
from devservers.stacks.kube.cluster import REQUEST_TIMEOUT_SECONDS, _api, connect

MIN_TOKEN_SECONDS = 600
"""Shortest token lifetime the TokenRequest API accepts (10 minutes)."""


@dataclass(frozen=True)
class UserKubeconfig:
    """A kubeconfig for one user.

    Attributes:
        text: The kubeconfig, YAML.
        expiry: UTC instant after which the token is refused.
    """

    user: str
    namespace: str
    text: str
    expiry: datetime


def user_kubeconfig(settings: Settings, user: str, duration: timedelta) -> UserKubeconfig:
    """Requests a token for the user's ServiceAccount and wraps it in a kubeconfig.

    Args:
        settings: The admin's settings (their kubeconfig and context).
        user: The platform user (RFC 1035 label).
        duration: Requested token lifetime; the API server may shorten it.

    Raises:
        SpecError: Bad user name, or a duration under 10 minutes.
        NotFound: The user has no ServiceAccount (not in the platform config).
        ClusterUnavailable: The API server cannot be reached or refused.
    """
    from kubernetes import client

    try:
        naming.check_label(user, "user", naming.MAX_USER_NAME)
    except ValueError as exc:
        raise SpecError(str(exc)) from None
    seconds = int(duration.total_seconds())
    if seconds < MIN_TOKEN_SECONDS:
        raise SpecError(f"duration {seconds}s is shorter than the minimum of 10m")
    namespace = naming.user_namespace(user)
    core = connect(settings).core
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=seconds)
    )
    missing = f"user {user!r} has no ServiceAccount {USER_SERVICE_ACCOUNT} in namespace {namespace}"
    with _api(f"request a token for {namespace}/{USER_SERVICE_ACCOUNT}", missing=missing):
        token = core.create_namespaced_service_account_token(
            USER_SERVICE_ACCOUNT, namespace, request, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    expiry = token.status.expiration_timestamp or datetime.now(UTC) + duration
    text = render_kubeconfig(
        cluster=_cluster_entry(core.api_client.configuration),
        user=user,
        namespace=namespace,
        token=token.status.token,
    )
    return UserKubeconfig(user=user, namespace=namespace, text=text, expiry=expiry.astimezone(UTC))


def render_kubeconfig(cluster: dict[str, Any], user: str, namespace: str, token: str) -> str:
    """A one-context kubeconfig (``kind: Config``) as YAML, context ``devservers-<user>``."""
    name = f"devservers-{user}"
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": {"token": token}}],
            "contexts": [
                {"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}
            ],
            "current-context": name,
        },
        sort_keys=False,
    )


def _cluster_entry(configuration: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"server": configuration.host}
    if configuration.ssl_ca_cert:
        ca = Path(configuration.ssl_ca_cert).read_bytes()
        entry["certificate-authority-data"] = base64.b64encode(ca).decode()
    if configuration.tls_server_name:
        entry["tls-server-name"] = configuration.tls_server_name
    if not configuration.verify_ssl:
        entry["insecure-skip-tls-verify"] = True
    return entry
