"""Reads from the Kubernetes API: cluster identity, namespaces, claims, servers.

Used for validation before a stack is touched and for the fast paths
(listing, describing) that must not open stacks. Every call maps API
failures to :class:`ClusterUnavailable` or :class:`NotFound`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devservers.components import labels as lbl
from devservers.components.durations import format_instant
from devservers.components.naming import cluster_key
from devservers.stacks.base import trace
from devservers.stacks.base.errors import ClusterUnavailable, Forbidden, NotFound, SpecError
from devservers.stacks.base.settings import Settings, yaml_problem

REQUEST_TIMEOUT_SECONDS = 15
"""Bound on every Kubernetes API call, connecting and reading included (seconds).

A call is one attempt: the client is built without urllib3's default retries
(three, each with the whole timeout again), so an API server that accepts
connections and never answers fails a call after this long, as its message says.
"""


@dataclass(frozen=True)
class Cluster:
    """A connection to the API server of the configured kubeconfig and context."""

    core: Any
    apps: Any
    context: str
    coordination: Any = None
    server: str = ""
    """API server URL of the context's cluster (``https://host:port``)."""

    @property
    def key(self) -> str:
        """This machine's name for the cluster: see ``naming.cluster_key``."""
        return cluster_key(self.context, self.server)

    def identity(self) -> str:
        """The cluster's identity: the UID of its ``kube-system`` namespace.

        Raises:
            ClusterUnavailable: If the API server cannot be reached.
        """
        with _api("read namespace kube-system"):
            return str(
                self.core.read_namespace(
                    "kube-system", _request_timeout=REQUEST_TIMEOUT_SECONDS
                ).metadata.uid
            )

    def require_namespace(self, namespace: str) -> None:
        """Raises :class:`NotFound` unless the namespace exists."""
        with _api(
            f"read namespace {namespace}",
            missing=f"namespace {namespace!r} does not exist",
            hint="user namespaces come from the platform: an admin adds the user to "
            "Pulumi.<stack>.yaml and runs 'pulumi up' (or set 'namespace' in your config)",
        ):
            self.core.read_namespace(namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS)

    def host_keys(self, namespace: str, server: str, stack: str) -> dict[str, str] | None:
        """The private host keys in ``server``'s host-keys Secret, if ``stack`` made it.

        A create killed after the engine made that Secret, but before its first
        update completed, left the keys only there: resuming it keeps them, so
        the pinned keys stay the server's.

        Returns:
            Mapping of key type (``ed25519``) → private key (OpenSSH PEM), or
            ``None`` when there is no such Secret of ``stack``.

        Raises:
            ClusterUnavailable: The API server cannot be reached.
        """
        import base64

        try:
            with _api(f"read secret {server}-host-keys", missing="gone"):
                secret = self.core.read_namespaced_secret(
                    f"{server}-host-keys", namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
                )
        except NotFound:
            return None
        if (secret.metadata.labels or {}).get(lbl.STACK) != stack:
            return None
        keys = {
            k.removeprefix("ssh_host_").removesuffix("_key"): base64.b64decode(v).decode()
            for k, v in (secret.data or {}).items()
            if k.startswith("ssh_host_") and k.endswith("_key")
        }
        return keys or None

    def missing_claims(self, namespace: str, claims: set[str]) -> list[str]:
        """The claims of ``claims`` that do not exist in ``namespace``, sorted."""
        if not claims:
            return []
        with _api(f"list claims in {namespace}"):
            found = self.core.list_namespaced_persistent_volume_claim(
                namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
        return sorted(claims - {c.metadata.name for c in found.items})

    def deployments(self, selector: str, namespace: str | None) -> list[Any]:
        """Deployments matching a label selector: one API call."""
        with _api("list deployments"):
            if namespace is None:
                result = self.apps.list_deployment_for_all_namespaces(
                    label_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS
                )
            else:
                result = self.apps.list_namespaced_deployment(
                    namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS
                )
        return list(result.items)

    def labelled(self, kind: str, selector: str, namespace: str | None) -> list[dict[str, Any]]:
        """Objects of one kind matching a label selector, as plain JSON: one API call.

        Skips the client's model classes (their deserialization grows with
        the number of objects); callers read a few fields only.

        Args:
            kind: ``namespaces`` (``namespace`` ``None``), ``deployments``,
                ``configmaps``, ``secrets``, ``services`` or ``pods`` (any
                namespace), or ``replicasets``, ``leases`` or ``events`` (one namespace).
            selector: A label selector (``""``: every object).
            namespace: One namespace, or ``None`` for all of them.

        Returns:
            The ``items`` of the list (Kubernetes JSON objects).
        """
        everywhere, namespaced = {
            "namespaces": (lambda: self.core.list_namespace, None),
            "deployments": (
                lambda: self.apps.list_deployment_for_all_namespaces,
                lambda: self.apps.list_namespaced_deployment,
            ),
            "configmaps": (
                lambda: self.core.list_config_map_for_all_namespaces,
                lambda: self.core.list_namespaced_config_map,
            ),
            "replicasets": (None, lambda: self.apps.list_namespaced_replica_set),
            "services": (
                lambda: self.core.list_service_for_all_namespaces,
                lambda: self.core.list_namespaced_service,
            ),
            "secrets": (
                lambda: self.core.list_secret_for_all_namespaces,
                lambda: self.core.list_namespaced_secret,
            ),
            "leases": (None, lambda: self.coordination.list_namespaced_lease),
            "pods": (
                lambda: self.core.list_pod_for_all_namespaces,
                lambda: self.core.list_namespaced_pod,
            ),
            "events": (None, lambda: self.core.list_namespaced_event),
        }[kind]
        raw = {"label_selector": selector, "_preload_content": False}
        with _api(f"list {kind}"):
            if namespace is None and everywhere is not None:
                response = everywhere()(**raw, _request_timeout=REQUEST_TIMEOUT_SECONDS)
            else:
                response = namespaced()(namespace, **raw, _request_timeout=REQUEST_TIMEOUT_SECONDS)
        return list(json.loads(response.data).get("items", []))

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """One named object as plain JSON, or ``None`` if it does not exist: one API call.

        Args:
            kind: ``Deployment``, ``Service``, ``Secret``, ``ConfigMap`` or ``Lease``.
            namespace: Its namespace.
            name: Its name.

        Raises:
            ClusterUnavailable: The API server cannot be reached or refused the call.
        """
        api = {"Deployment": self.apps, "Lease": self.coordination}.get(kind, self.core)
        snake = {"ConfigMap": "config_map"}.get(kind, kind.lower())
        read = getattr(api, f"read_namespaced_{snake}")
        with _api(f"read {kind} {namespace}/{name}"), _absent(404):
            response = read(
                name, namespace, _preload_content=False, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
            return dict(json.loads(response.data))
        return None

    def annotate_deployment(self, namespace: str, name: str, notes: dict[str, str | None]) -> None:
        """Sets (or, for ``None`` values, removes) annotations of a Deployment (merge patch).

        Raises:
            NotFound: The Deployment does not exist (any more).
        """
        missing = f"Deployment {namespace}/{name} does not exist"
        with _api(f"annotate deployment {namespace}/{name}", missing=missing):
            self.apps.patch_namespaced_deployment(
                name,
                namespace,
                {"metadata": {"annotations": notes}},
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            )

    def record_event(
        self, namespace: str, name: str, uid: str | None, reason: str, message: str, component: str
    ) -> None:
        """Records a ``Warning`` Event (``core/v1``) about the Deployment ``namespace/name``.

        Args:
            namespace: The Deployment's namespace.
            name: The Deployment's name.
            uid: The Deployment's UID, if known.
            reason: CamelCase reason, e.g. ``ExpiringSoon``.
            message: One line for people.
            component: The reporting component, e.g. ``devservers-reaper``.
        """
        now = format_instant(datetime.now(UTC))
        body = {
            "metadata": {"generateName": f"{name}.", "namespace": namespace},
            "involvedObject": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "name": name,
                "namespace": namespace,
                "uid": uid,
            },
            "reason": reason,
            "message": message,
            "type": "Warning",
            "source": {"component": component},
            "reportingComponent": component,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        with _api(f"record event in {namespace}"):
            self.core.create_namespaced_event(
                namespace, body, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )

    def pods(self, namespace: str, selector: str) -> list[Any]:
        """Pods matching a label selector in one namespace."""
        with _api(f"list pods in {namespace}"):
            return list(
                self.core.list_namespaced_pod(
                    namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS
                ).items
            )

    def replica_sets(self, namespace: str, selector: str) -> list[Any]:
        """ReplicaSets matching a label selector in one namespace."""
        with _api(f"list replica sets in {namespace}"):
            return list(
                self.apps.list_namespaced_replica_set(
                    namespace, label_selector=selector, _request_timeout=REQUEST_TIMEOUT_SECONDS
                ).items
            )

    def events(self, namespace: str, name: str) -> list[Any]:
        """Events about the object called ``name`` in ``namespace``, oldest first."""
        with _api(f"list events in {namespace}"):
            items = self.core.list_namespaced_event(
                namespace,
                field_selector=f"involvedObject.name={name}",
                _request_timeout=REQUEST_TIMEOUT_SECONDS,
            ).items
        return sorted(items, key=lambda e: str(e.last_timestamp or e.event_time or ""))

    def container_log(self, namespace: str, pod: str, container: str, lines: int) -> list[str]:
        """The last ``lines`` lines a container wrote before it last exited (``previous``).

        Falls back to the current instance's log when there was no earlier one;
        ``[]`` when the kubelet has none (e.g. a container that never started).
        """
        from kubernetes.client.exceptions import ApiException

        for previous in (True, False):
            with _api(f"read log of pod {namespace}/{pod}"):
                try:
                    text = self.core.read_namespaced_pod_log(
                        pod,
                        namespace,
                        container=container,
                        previous=previous,
                        tail_lines=lines,
                        _request_timeout=REQUEST_TIMEOUT_SECONDS,
                    )
                except ApiException as exc:
                    if exc.status not in (400, 404):
                        raise
                    continue
            if text:
                return str(text).splitlines()[-lines:]
        return []

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        """The ``data`` of a ConfigMap, or ``None`` if it (or its namespace) does not exist."""
        with _api(f"read configmap {namespace}/{name}"), _absent(404):
            found = self.core.read_namespaced_config_map(
                name, namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
            )
            return dict(found.data or {})
        return None

    def get_json(self, path: str, query: dict[str, str] | None = None) -> tuple[Any, datetime]:
        """GETs an API server path as JSON, with the API server's clock at the answer.

        Args:
            path: An absolute API path, e.g. ``/api/v1/nodes/n1/proxy/stats/summary``.
            query: Query parameters.

        Returns:
            The decoded body and the instant of the answer's ``Date`` header (UTC;
            RFC 9110 §6.6.1: the origin server's clock, one-second resolution).

        Raises:
            NotFound: The path does not exist (404).
            Forbidden: These credentials may not read it.
            ClusterUnavailable: The API server (or, through a proxy path, the
                node) cannot be reached or answered with an error.
        """
        from kubernetes.client.exceptions import ApiException

        client = self.core.api_client
        request = client.param_serialize(
            "GET",
            path,
            query_params=list((query or {}).items()),
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        with _api(f"get {path}", missing=f"{path} does not exist"):
            response = client.call_api(*request, _request_timeout=REQUEST_TIMEOUT_SECONDS)
            response.read()
            if not 200 <= response.status <= 299:
                raise ApiException.from_response(http_resp=response, body=None, data=None)
        return json.loads(response.data), _date_of(response)

    def nodes_and_pods(self) -> tuple[list[Any], list[Any]]:
        """All nodes and every pod not yet finished (two calls).

        Raises:
            Forbidden: These credentials may not list nodes, or the pods of
                every namespace (a user's usually may not); the message names
                the call refused.
            ClusterUnavailable: The API server cannot be reached.
        """
        active = "status.phase!=Succeeded,status.phase!=Failed"
        with _api("list nodes"):
            nodes = self.core.list_node(_request_timeout=REQUEST_TIMEOUT_SECONDS).items
        with _api("list pods of all namespaces"):
            pods = self.core.list_pod_for_all_namespaces(
                field_selector=active, _request_timeout=REQUEST_TIMEOUT_SECONDS
            ).items
        return list(nodes), list(pods)


def _date_of(response: Any) -> datetime:
    """The ``Date`` header of an HTTP response as a UTC instant (now, if it has none)."""
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(response.headers["Date"]).astimezone(UTC)
    except (KeyError, TypeError, ValueError):
        return datetime.now(UTC)


EMPTY_POLL_SECONDS = 0.2
"""Interval between two reads while waiting for objects to be gone."""


def wait_until_empty(lister: Callable[[], list[Any]], timeout_seconds: float) -> list[Any]:
    """Calls ``lister`` every :data:`EMPTY_POLL_SECONDS` until it returns nothing or time is up.

    Gives up after ``timeout_seconds``.

    Returns:
        Its last answer: empty, or what was still there at the timeout.
    """
    deadline = time.monotonic() + timeout_seconds
    while (left := lister()) and time.monotonic() < deadline:
        time.sleep(EMPTY_POLL_SECONDS)
    return left


def connect(settings: Settings) -> Cluster:
    """Loads the kubeconfig and context of ``settings``.

    In a pod without a kubeconfig, one for its ServiceAccount is written first
    (see :attr:`Settings.in_cluster`).

    Raises:
        SpecError: If the kubeconfig is missing or invalid, or has no such
            context (bad input, nothing was contacted).
    """
    import yaml
    from kubernetes import client, config
    from urllib3.util.retry import Retry

    if settings.in_cluster:
        from devservers.stacks.kube.incluster import write_service_account_kubeconfig

        write_service_account_kubeconfig(Path(settings.kubeconfig_files))
    try:
        configuration = type.__call__(client.Configuration)  # not a copy of a global default
        configuration.retries = Retry(total=0)  # one attempt per call: bounded by its timeout
        api = config.new_client_from_config(
            config_file=settings.kubeconfig_files,
            context=settings.context,
            client_configuration=configuration,
        )
        _, active = config.list_kube_config_contexts(config_file=settings.kubeconfig_files)
    except (config.ConfigException, OSError, TypeError, ValueError, yaml.YAMLError) as exc:
        raise SpecError(
            f"cannot load kubeconfig {settings.kubeconfig_files}"
            f"{f' context {settings.context!r}' if settings.context else ''}: "
            + _kubeconfig_problem(exc, settings.kubeconfig_files.split(os.pathsep)),
            hint="set kubeconfig/context in the devctl config or pass --kubeconfig/--context",
        ) from None
    return Cluster(
        core=_LazyApi(api, "CoreV1Api"),
        apps=_LazyApi(api, "AppsV1Api"),
        context=settings.context or active["name"],
        coordination=_LazyApi(api, "CoordinationV1Api"),
        server=str(api.configuration.host),
    )


def _kubeconfig_problem(exc: Exception, files: list[str]) -> str:
    """One line saying why the kubeconfig ``files`` could not be loaded."""
    import yaml

    if not any(map(os.path.exists, files)):
        return "no such file"
    if isinstance(exc, TypeError):  # YAML, but not a mapping of clusters/contexts/users
        return "not a kubeconfig (apiVersion: v1, kind: Config)"
    if isinstance(exc, UnicodeDecodeError | yaml.YAMLError):
        return f"not readable YAML: {yaml_problem(exc)}"
    return " ".join(str(exc).split())


class _LazyApi:
    """A ``kubernetes.client`` API group built on first use.

    Each group imports (and validates) hundreds of model classes; listing
    needs only ``AppsV1Api``, so the others must not slow it down.
    """

    def __init__(self, api: Any, group: str) -> None:
        self._api, self._group = api, group
        self._built: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._built is None:
            from kubernetes import client

            self._built = getattr(client, self._group)(self._api)
        return getattr(self._built, name)


@contextmanager
def _api(action: str, missing: str | None = None, hint: str | None = None) -> Iterator[None]:
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        with trace.span("api", action):
            yield
    except ApiException as exc:
        if exc.status == 404 and missing:
            raise NotFound(missing, hint=hint) from None
        if exc.status == 401:
            raise ClusterUnavailable(
                f"{action}: the API server refused the credentials (401 {exc.reason})"
            ) from None
        if exc.status == 403:
            raise Forbidden(
                f"{action}: forbidden to these credentials (403 {exc.reason})",
                hint="an admin's kubeconfig can do this; a user's may act in their own namespace",
            ) from None
        raise ClusterUnavailable(f"{action}: API error {exc.status} {exc.reason}") from None
    except HTTPError as exc:
        raise ClusterUnavailable(f"{action}: {_unreachable(exc)}") from None


def _unreachable(exc: Exception) -> str:
    """Why a call got no answer, from a urllib3 error, without its connection repr.

    ``the API server https://host:port did not answer within 15 s`` (a timeout),
    else ``cannot reach the API server https://host:port (reason)``.
    """
    from urllib3.exceptions import MaxRetryError, NewConnectionError, TimeoutError

    cause = exc.reason if isinstance(exc, MaxRetryError) and exc.reason else exc
    pool = getattr(exc, "pool", None)
    where = f" {pool.scheme}://{pool.host}:{pool.port}" if pool is not None else ""
    if isinstance(cause, TimeoutError) and not isinstance(cause, NewConnectionError):
        return f"the API server{where} did not answer within {REQUEST_TIMEOUT_SECONDS} s"
    reason = re.sub(r"^HTTPS?Connection(Pool)?\([^)]*\): ", "", str(cause))
    return f"cannot reach the API server{where} ({reason})"


@contextmanager
def _absent(status: int) -> Iterator[None]:
    """Swallows an API error of ``status`` so the caller falls through to its default."""
    from kubernetes.client.exceptions import ApiException

    try:
        yield
    except ApiException as exc:
        if exc.status != status:
            raise


api_errors = _api
"""Public name of the context manager mapping Kubernetes API errors to ours."""
