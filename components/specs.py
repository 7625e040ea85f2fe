"""Pydantic specs of flavors, volumes and DevServers. Pure data, no I/O.

Every spec is frozen and refuses unknown fields; it is validated once, at the
edge (CLI flags, config files, platform stack config), before any stack or
cluster object is touched.
"""

from __future__ import annotations

import posixpath
import re
from datetime import datetime
from typing import Annotated, Literal

from kubernetes.utils.quantity import parse_quantity
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from devservers.components import naming
from devservers.components.durations import parse_duration
from devservers.components.sshkeys import parse_public_keys

HOME_PATH = "/home/dev"
"""Home directory of the DevServer user; an emptyDir unless a volume mounts it."""

SYSTEM_PATHS = {
    "/bin": "programs (/bin/sh)",
    "/sbin": "programs",
    "/usr": "programs and libraries (/usr/sbin/sshd)",
    "/lib": "libraries and the dynamic loader",
    "/lib32": "libraries",
    "/lib64": "the dynamic loader",
    "/libx32": "libraries",
    "/etc": "the passwd entry of user dev and the DevServer's sshd config (/etc/devserver)",
    "/proc": "the kernel's process filesystem",
    "/sys": "the kernel's sysfs",
    "/dev": "devices and /dev/shm",
    "/run": "sshd's keys and pid file (/run/devserver)",
    "/var/run": "sshd's keys and pid file (an alias of /run)",
    "/var/lock": "an alias of /run/lock",
    f"{HOME_PATH}/.ssh": "the authorized_keys the server's start script installs",
}
"""Paths a volume may not mount at or under, because it would hide what the server runs on.

Mapping of path → what it holds. The server runs ``/bin/sh``, ``/usr/sbin/sshd`` and the
libraries they load, reads ``/etc/passwd`` and the key files installed under ``/run`` and
``~/.ssh`` (README "DevServer images"); the container runtime provides ``/proc``, ``/sys``
and ``/dev``; ``/var/run`` and ``/var/lock`` are aliases of ``/run`` and ``/run/lock``
(Filesystem Hierarchy Standard 3.0: ``/run``, ``/var/run``, ``/var/lock``), and runc
resolves the symlinks of a mount destination inside the image. A volume mounted at
``/usr`` would leave the pod running but never Ready. Everything else (``/data``,
``/home/dev``, ``/opt/…``, ``/tmp``, ``/mnt/…``, ``/var/cache/…``) is the user's to mount on.
"""

DEFAULT_SSHD_IMAGE = "localhost/devservers/sshd:9.2p1-2-deb12u10"
"""The sshd carrier image (``images/sshd``), tagged with its Debian openssh version.

``images/build.sh`` builds it under this name (a unit test checks they agree).
"""

GPU_RESOURCE = "nvidia.com/gpu"
"""Extended resource name of NVIDIA GPUs (NVIDIA device plugin)."""


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


_QUANTITY = re.compile(r"^\+?(\d+\.?\d*|\.\d+)([eE][+-]?\d+|[KMGTPE]i|[numkMGTPE])?$")
"""Non-negative ``resource.Quantity`` grammar (k8s.io/apimachinery/pkg/api/resource)."""


def _quantity(value: str) -> str:
    if not _QUANTITY.fullmatch(value):
        raise ValueError(f"{value!r} is not a Kubernetes resource quantity (e.g. 500m, 4, 16Gi)")
    return value


Quantity = Annotated[str, AfterValidator(_quantity)]
"""A non-negative Kubernetes resource quantity string such as ``500m`` or ``16Gi``."""

ServerName = Annotated[
    str, AfterValidator(lambda v: naming.check_label(v, "server name", naming.MAX_SERVER_NAME))
]
UserName = Annotated[
    str, AfterValidator(lambda v: naming.check_label(v, "user", naming.MAX_USER_NAME))
]
FlavorName = Annotated[str, AfterValidator(lambda v: naming.check_label(v, "flavor name", 63))]


def _mount_path(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"mount path {path!r} must be absolute")
    normalised = posixpath.normpath(path)
    if normalised != path.rstrip("/") or normalised.startswith("//") or normalised == "/":
        raise ValueError(f"mount path {path!r} must be a normalised absolute path other than /")
    for system, holds in SYSTEM_PATHS.items():
        if normalised == system or normalised.startswith(system + "/"):
            raise ValueError(
                f"mount path {path!r} would hide {system}, which the DevServer runs on ({holds})"
            )
    return normalised


MountPath = Annotated[str, AfterValidator(_mount_path)]
ImageRef = Annotated[str, AfterValidator(naming.check_image)]


class VolumeSpec(_Spec):
    """An existing PersistentVolumeClaim mounted into the DevServer.

    Written Docker-style as ``claim:/path`` or ``claim:/path:ro``. The claim is
    the user's: devservers references it and never creates, replaces or
    deletes it.
    """

    claim: Annotated[str, AfterValidator(lambda v: naming.check_subdomain(v, "claim"))]
    mount_path: MountPath
    read_only: bool = False

    @classmethod
    def parse(cls, text: str) -> VolumeSpec:
        """Parses ``claim:/path[:ro|:rw]``.

        Raises:
            ValueError: If the text does not have that shape; the message names it.
        """
        parts = text.split(":")
        mode = parts.pop() if len(parts) == 3 else "rw"
        if len(parts) != 2 or mode not in ("ro", "rw"):
            raise ValueError(f"volume {text!r} must look like claim:/path[:ro|:rw]")
        return cls(claim=parts[0], mount_path=parts[1], read_only=mode == "ro")

    def __str__(self) -> str:
        return f"{self.claim}:{self.mount_path}" + (":ro" if self.read_only else "")


class Toleration(_Spec):
    """A Kubernetes pod toleration (``core/v1 Toleration``)."""

    key: str | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None


MIN_IDLE_TIMEOUT_SECONDS = 60
"""Shortest idle timeout: one reaper pass at its default interval."""


def parse_idle_timeout(text: str) -> int | None:
    """An idle timeout (``30m``, ``1h``, or ``off``) in seconds; ``None`` for ``off``.

    Raises:
        ValueError: Not a duration or ``off``, or shorter than one minute.
    """
    if text.strip().lower() == "off":
        return None
    try:
        seconds = int(parse_duration(text).total_seconds())
    except ValueError as exc:
        raise ValueError(f"{str(exc).replace('duration', 'idle timeout', 1)} (or off)") from None
    if seconds < MIN_IDLE_TIMEOUT_SECONDS:
        raise ValueError(f"idle timeout {text!r} is shorter than 1m (or use off)")
    return seconds


def _idle_timeout(text: str) -> str:
    parse_idle_timeout(text)
    return text


IdleTimeout = Annotated[str, AfterValidator(_idle_timeout)]
"""A duration of at least one minute, or ``off``."""


class FlavorSpec(_Spec):
    """A t-shirt size of DevServer: resources, scheduling and /dev/shm.

    Quantities are Kubernetes strings; ``gpus`` is a count of
    ``nvidia.com/gpu`` (requests equal limits, as Kubernetes requires for
    extended resources). ``idle_timeout`` (a duration, e.g. ``1h``) is the
    idle stop of its servers unless the user sets one; ``None``: off.
    """

    name: FlavorName
    description: str = ""
    cpu_request: Quantity
    cpu_limit: Quantity
    memory_request: Quantity
    memory_limit: Quantity
    gpus: int = Field(default=0, ge=0, le=16)
    shm_size: Quantity = "1Gi"
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    default_volumes: tuple[VolumeSpec, ...] = ()
    idle_timeout: IdleTimeout | None = None
    default: bool = False

    @model_validator(mode="after")
    def _check(self) -> FlavorSpec:
        for kind in ("cpu", "memory"):
            request, limit = getattr(self, f"{kind}_request"), getattr(self, f"{kind}_limit")
            if parse_quantity(request) > parse_quantity(limit):
                raise ValueError(
                    f"flavor {self.name}: {kind} request {request} exceeds its limit {limit}"
                )
        for key, value in self.node_selector.items():
            naming.check_label_key(key)
            naming.check_label_value(value, f"nodeSelector {key}")
        return self


class DevServerSpec(_Spec):
    """Everything needed to build one DevServer stack.

    Attributes:
        expiry: Absolute UTC instant after which the reaper destroys the server.
        ssh_public_keys: Normalised OpenSSH public keys for authorized_keys.
        image: The user's image the server runs (any Linux image with ``/bin/sh``).
        idle_timeout_seconds: How long the server may stay idle before the
            reaper stops it (:mod:`devservers.components.idleness`); ``None``: never.
        sshd_image: The sshd carrier image whose sshd the server runs; stacks
            made before it existed read as the default.
    """

    name: ServerName
    user: UserName
    namespace: Annotated[str, AfterValidator(lambda v: naming.check_label(v, "namespace", 63))]
    flavor: FlavorSpec
    volumes: tuple[VolumeSpec, ...] = ()
    ssh_public_keys: tuple[str, ...]
    image: ImageRef
    expiry: datetime
    sshd_image: ImageRef = DEFAULT_SSHD_IMAGE
    idle_timeout_seconds: int | None = Field(default=None, ge=MIN_IDLE_TIMEOUT_SECONDS)

    @model_validator(mode="after")
    def _check(self) -> DevServerSpec:
        if self.expiry.tzinfo is None:
            raise ValueError("expiry must be timezone-aware (UTC)")
        keys = parse_public_keys("\n".join(self.ssh_public_keys), "ssh public keys")
        if list(self.ssh_public_keys) != keys:
            raise ValueError("ssh public keys must be normalised by parse_public_keys")
        seen: dict[str, VolumeSpec] = {}
        for volume in self.mounts:
            if volume.mount_path in seen:
                raise ValueError(
                    f"volumes {seen[volume.mount_path]} and {volume} mount the same path"
                )
            seen[volume.mount_path] = volume
        return self

    @property
    def mounts(self) -> tuple[VolumeSpec, ...]:
        """The user's volumes followed by the flavor's default volumes."""
        return self.volumes + self.flavor.default_volumes

    @property
    def stack(self) -> str:
        """The Pulumi stack name, ``<user>.<name>``."""
        return naming.stack_name(self.user, self.name)

    @property
    def mounts_home(self) -> bool:
        """Whether some volume is mounted at the home path."""
        return any(v.mount_path == HOME_PATH for v in self.mounts)
