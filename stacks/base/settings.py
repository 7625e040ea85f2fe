"""devctl settings: a YAML file plus environment overrides, validated once.

File: ``$DEVSERVERS_CONFIG`` or ``${XDG_CONFIG_HOME:-~/.config}/devctl/config.yaml``
(optional). Every key may be overridden by ``DEVSERVERS_<KEY>`` in the
environment (upper case), e.g. ``DEVSERVERS_BACKEND_URL``.
"""

from __future__ import annotations

import getpass
import os
import re
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from devservers.components import naming
from devservers.components.durations import parse_duration
from devservers.components.expiry import Policy
from devservers.components.platform_specs import SYSTEM_NAMESPACE, Namespace
from devservers.components.specs import DEFAULT_SSHD_IMAGE, IdleTimeout, ImageRef
from devservers.stacks.base.errors import SpecError

DEFAULT_IMAGE = "localhost/devservers/devserver:bookworm"
"""Default DevServer image: ``images/devserver`` built and pushed under this name.

Set ``image`` to where your registry serves it, or to any Linux image with a
``/bin/sh`` (README "DevServer images"): sshd comes from ``sshd_image``.
"""


def _duration(value: str) -> str:
    parse_duration(value)
    return value


Duration = Annotated[str, AfterValidator(_duration)]


PROJECT = "devservers"
"""Pulumi project of every DevServer stack."""

KEYS = "keys"
"""Context entry of a check across several settings: the keys it compares (their sources
are named when it fails)."""
_TTL_KEYS = ("default_ttl", "max_ttl")

SERVICE_ACCOUNT_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
"""Where Kubernetes mounts a pod's ServiceAccount token."""

SERVICE_ACCOUNT_KUBECONFIG = "service-account.kubeconfig"
"""In a pod: the kubeconfig written for its ServiceAccount, under ``state_dir``."""


class Settings(BaseModel):
    """What devctl needs to reach the cluster and the state backend.

    Attributes:
        user: The DevServer owner (RFC 1035 label); defaults to the login name.
        backend_url: Pulumi state backend (``file://…``, ``postgres://…``,
            ``s3://…``); defaults to a file backend under the XDG data dir.
        kubeconfig: Path of the kubeconfig; ``None`` uses ``$KUBECONFIG`` or
            ``~/.kube/config``.
        context: kubeconfig context; ``None`` uses the current context.
        namespace: Namespace of the user's DevServers; defaults to ``dev-<user>``.
        default_flavor: Flavor of ``create`` without ``--flavor``; defaults to
            the catalog's default.
        flavors_file: YAML list of flavors; replaces the platform's catalog.
        platform_namespace: Namespace where the platform stack publishes the
            flavor catalog (ConfigMap ``flavors``).
        ssh_public_key_files: Public keys put on new servers; defaults to
            ``~/.ssh/id_*.pub``.
        image: Container image of new DevServers: any Linux image of the
            node's architecture with a ``/bin/sh``.
        sshd_image: The sshd carrier image (``images/sshd``) whose static
            sshd new DevServers run, tagged with its Debian openssh version.
        default_ttl / max_ttl: Lifetime of new servers, and the cap on it
            (also on ``extend``: the expiry stays within ``max_ttl`` from now);
            ``default_ttl`` may not exceed ``max_ttl``.
        expiry_policy: What the reaper does at expiry: ``delete`` the stack,
            or ``stop`` the server and delete it ``stop_retention`` later.
        stop_retention: How long a server stopped at expiry is kept.
        expiry_warning: How long before expiry the reaper warns (once).
        idle_timeout: Idle stop of new servers (``devctl create --idle-timeout``
            overrides it); ``None`` takes the flavor's ``idle_timeout``, else off.
        idle_warning: How long before an idle stop the reaper warns (once per
            idle period; at most half the server's idle timeout).
        idle_cpu_cores / idle_gpu_percent: Usage at or above which a server is
            active (its pod's CPU cores; any one of its GPUs, percent).
        gpu_metrics_url: A dcgm-exporter style Prometheus endpoint the reaper
            reads GPU utilisation from; ``None``: GPU usage is not counted.
        operation_timeout_seconds: Bound on one engine operation's waits.
        reaper_parallel: How many destroys (or stops) a reaper pass runs at
            once. Each engine operation holds about 370 MiB (measured by
            ``make bench``) and keeps a core busy; see the README's sizing.
        ssh_forward_agent: Default of ``devctl ssh -A`` and of ``ForwardAgent``
            in the entries ``devctl ssh-config`` writes.
        ssh_connect_timeout_seconds: Bound on opening the port-forward and on
            waiting for sshd's first byte.
        secrets_provider: ``passphrase`` (default) or a key-management URL
            (``awskms://…``, ``gcpkms://…``, ``azurekeyvault://…``,
            ``hashivault://…``); see :mod:`devservers.stacks.engine.backends`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str = Field(default_factory=lambda: _login_name())
    backend_url: str | None = None
    secrets_provider: str = "passphrase"
    kubeconfig: Path | None = None
    context: str | None = None
    namespace: Namespace | None = None
    image: ImageRef = DEFAULT_IMAGE
    sshd_image: ImageRef = DEFAULT_SSHD_IMAGE
    default_ttl: Duration = "8h"
    max_ttl: Duration = "7d"
    expiry_policy: Policy = "delete"
    stop_retention: Duration = "24h"
    expiry_warning: Duration = "30m"
    idle_timeout: IdleTimeout | None = None
    idle_warning: Duration = "10m"
    idle_cpu_cores: float = Field(default=0.1, ge=0)
    idle_gpu_percent: float = Field(default=10.0, ge=0, le=100)
    gpu_metrics_url: str | None = None
    operation_timeout_seconds: int = Field(default=600, ge=10, le=86400)
    reaper_parallel: int = Field(default=2, ge=1, le=64)
    ssh_forward_agent: bool = False
    ssh_connect_timeout_seconds: int = Field(default=15, ge=1, le=300)
    default_flavor: str | None = None
    flavors_file: Path | None = None
    platform_namespace: Namespace = SYSTEM_NAMESPACE
    ssh_public_key_files: tuple[Path, ...] = ()
    state_dir: Path = Field(
        default_factory=lambda: _xdg("XDG_DATA_HOME", ".local/share", "devservers")
    )
    config_dir: Path = Field(default_factory=lambda: _xdg("XDG_CONFIG_HOME", ".config", "devctl"))

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        return naming.check_label(value, "user", naming.MAX_USER_NAME)

    @field_validator("backend_url")
    @classmethod
    def _backend(cls, value: str | None) -> str | None:
        if value is not None:
            check_backend_url(value)
        return value

    @field_validator("secrets_provider")
    @classmethod
    def _secrets_provider(cls, value: str) -> str:
        if value != "passphrase" and not re.match(
            r"^(awskms|gcpkms|azurekeyvault|hashivault)://.", value
        ):
            raise ValueError(
                f"secrets_provider {value!r} must be 'passphrase' or an awskms://, gcpkms://, "
                "azurekeyvault:// or hashivault:// URL"
            )
        return value

    @model_validator(mode="after")
    def _default_within_max(self) -> Settings:
        if self.default_ttl_delta > self.max_ttl_delta:
            raise PydanticCustomError(
                "ttl_order",
                "default_ttl {default_ttl} is longer than max_ttl {max_ttl}",
                {"default_ttl": self.default_ttl, "max_ttl": self.max_ttl, KEYS: _TTL_KEYS},
            )
        return self

    @property
    def server_namespace(self) -> str:
        """The namespace new DevServers go to."""
        return self.namespace or naming.user_namespace(self.user)

    @property
    def in_cluster(self) -> bool:
        """Whether the credentials are the pod's ServiceAccount (the reaper's CronJob).

        True in a pod (``KUBERNETES_SERVICE_HOST`` and the mounted token, as
        client-go's ``rest.InClusterConfig`` requires) when no kubeconfig is
        set (setting or ``$KUBECONFIG``) and none is at ``~/.kube/config``.
        """
        if self.kubeconfig or os.environ.get("KUBECONFIG"):
            return False
        return (
            bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
            and SERVICE_ACCOUNT_TOKEN.exists()
            and not (Path.home() / ".kube" / "config").exists()
        )

    @property
    def kubeconfig_files(self) -> str:
        """The kubeconfig path(s) in effect.

        The setting, else ``$KUBECONFIG``, else ``~/.kube/config``; in a pod
        without any (see :attr:`in_cluster`), the ServiceAccount's kubeconfig
        under ``state_dir`` (:mod:`devservers.stacks.kube.incluster`).

        Several paths are joined with ``:`` as in ``$KUBECONFIG``.
        """
        if self.kubeconfig:
            return str(self.kubeconfig)
        if self.in_cluster:
            return str(self.state_dir / SERVICE_ACCOUNT_KUBECONFIG)
        return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")

    @property
    def backend(self) -> str:
        """The effective Pulumi backend URL."""
        return self.backend_url or f"file://{self.state_dir / 'state'}"

    @property
    def file_backend_dir(self) -> Path | None:
        """``<dir>/.pulumi`` of a ``file://`` backend; ``None`` for other backends.

        Pulumi keeps the stacks, their history and the engine locks under it.
        """
        if not self.backend.startswith("file://"):
            return None
        return Path(self.backend.removeprefix("file://")) / ".pulumi"

    def checkpoint_file(self, stack: str) -> Path | None:
        """The checkpoint of ``stack`` (``<user>.<server>``) in a file backend; ``None`` elsewhere.

        ``<dir>/.pulumi/stacks/devservers/<stack>.json``, as Pulumi's file backend keeps it.
        """
        root = self.file_backend_dir
        return root / "stacks" / PROJECT / f"{stack}.json" if root else None

    @property
    def max_ttl_delta(self) -> timedelta:
        """``max_ttl`` as a duration."""
        return parse_duration(self.max_ttl)

    @property
    def default_ttl_delta(self) -> timedelta:
        """``default_ttl`` as a duration."""
        return parse_duration(self.default_ttl)

    @property
    def stop_retention_delta(self) -> timedelta:
        """``stop_retention`` as a duration."""
        return parse_duration(self.stop_retention)

    @property
    def idle_warning_delta(self) -> timedelta:
        """``idle_warning`` as a duration."""
        return parse_duration(self.idle_warning)

    @property
    def expiry_warning_delta(self) -> timedelta:
        """``expiry_warning`` as a duration."""
        return parse_duration(self.expiry_warning)


_BACKEND_URL = re.compile(r"^(?P<scheme>file|postgres|postgresql|s3|gs|azblob)://(?P<rest>.*)$")


def check_backend_url(value: str) -> str:
    """Validates a Pulumi DIY backend URL.

    ``file://`` needs an absolute path (``file:///abs/dir``); ``postgres://``
    a host; ``s3://``, ``gs://`` and ``azblob://`` a bucket. The Pulumi
    Cloud service (``https://``) is not a supported backend.

    Raises:
        ValueError: Naming the URL and what is wrong with it.
    """
    match = _BACKEND_URL.match(value)
    if not match:
        raise ValueError(
            f"backend_url {value!r} must start with file://, postgres://, s3://, gs:// or azblob://"
        )
    scheme, rest = match["scheme"], match["rest"]
    if scheme == "file" and not rest.startswith("/"):
        raise ValueError(
            f"backend_url {value!r} must name an absolute path, e.g. file:///srv/state"
        )
    if scheme != "file" and not rest.split("/")[0].split("@")[-1].split("?")[0]:
        raise ValueError(f"backend_url {value!r} names no host or bucket")
    return value


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Reads the config file, applies ``DEVSERVERS_*`` env vars, then ``overrides``.

    Args:
        path: Config file; defaults to ``$DEVSERVERS_CONFIG`` or the XDG path.
        overrides: Values given on the command line; ``None`` values are ignored.

    Returns:
        Validated settings.

    Raises:
        SpecError: If the file is unreadable, not a mapping, or has a bad or
            unknown key; the message names the key, the hint where its value
            came from (the file, a ``DEVSERVERS_*`` variable, the command line).
    """
    path = path or Path(
        os.environ.get("DEVSERVERS_CONFIG")
        or _xdg("XDG_CONFIG_HOME", ".config", "devctl") / "config.yaml"
    )
    values: dict[str, Any] = _read_file(path)
    sources = dict.fromkeys(values, str(path))
    for key in Settings.model_fields:
        env = os.environ.get(f"DEVSERVERS_{key.upper()}")
        if env:
            is_list = isinstance(Settings.model_fields[key].default, tuple)
            values[key] = env.split(os.pathsep) if is_list else env
            sources[key] = f"the environment variable DEVSERVERS_{key.upper()}"
    given = {k: v for k, v in overrides.items() if v is not None}
    values.update(given)
    sources.update(dict.fromkeys(given, "the command line"))
    try:
        return Settings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        keys = [str(err["loc"][0])] if err["loc"] else (err.get("ctx") or {}).get(KEYS, ())
        raise SpecError(
            f"config: {describe_validation_error(exc)}", hint=_where(keys, sources, path)
        ) from None


def _where(keys: Sequence[str], sources: dict[str, str], path: Path) -> str:
    """The hint naming where the values of ``keys`` came from (``the default`` if unset)."""
    if len(keys) == 1:
        return f"check {sources.get(keys[0], 'the default')}"
    if keys:
        return "check " + " and ".join(f"{k} ({sources.get(k, 'the default')})" for k in keys)
    return f"check {path}" if path.exists() else "check the DEVSERVERS_* variables"


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming the first bad field of a pydantic error and why."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    value = err.get("input")
    if isinstance(value, str | int | float) and str(value) not in msg:
        msg = f"{msg} (got {value!r})"
    return f"{where}: {msg}" if where else msg


def _read_file(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"config file {path} is not readable YAML: {yaml_problem(exc)}") from None
    if not isinstance(data, dict):
        raise SpecError(f"config file {path} must be a mapping of key: value")
    return data


def yaml_problem(exc: OSError | UnicodeDecodeError | yaml.YAMLError) -> str:
    """One line saying why a YAML file could not be read (with line and column, or byte offset).

    YAML files are UTF-8 (YAML 1.2, section 5.2 allows UTF-16/32 only with a byte order mark).
    """
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        mark = exc.problem_mark
        return f"{exc.problem} at line {mark.line + 1}, column {mark.column + 1}"
    return " ".join(str(exc).split())


def _xdg(var: str, fallback: str, app: str) -> Path:
    base = os.environ.get(var) or str(Path.home() / fallback)
    return Path(base) / app


def _login_name() -> str:
    name = os.environ.get("DEVSERVERS_USER") or getpass.getuser()
    return re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-") or "dev"
