"""Specs of the admin platform: users, quotas, the reaper job, and the whole platform.

Pure data, no I/O. The platform stack's config (``Pulumi.<stack>.yaml``)
is validated into a :class:`PlatformSpec` before any resource is declared;
every field name here is the key an admin writes in that file.
"""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from devservers.components import naming
from devservers.components.catalog import check_catalog
from devservers.components.specs import FlavorSpec, Quantity, UserName, _Spec
from devservers.components.sshkeys import parse_public_keys

SYSTEM_NAMESPACE = "devservers-system"
"""Default namespace of the platform's shared objects (the flavor catalog, the reaper)."""

USER_SERVICE_ACCOUNT = "devctl"
"""Name of the ServiceAccount devctl acts as in each user's namespace ``dev-<user>``."""

Namespace = Annotated[str, AfterValidator(lambda v: naming.check_label(v, "namespace", 63))]


class _Limits(_Spec):
    """A set of optional limits of which at least one must be set."""

    key: ClassVar[str]

    @model_validator(mode="after")
    def _check(self) -> _Limits:
        if not self.model_dump(exclude_none=True):
            fields = ", ".join(type(self).model_fields)
            raise ValueError(f"{self.key} sets nothing; remove it or set one of {fields}")
        return self


class QuotaSpec(_Limits):
    """Hard limits of a user's namespace, as one ``ResourceQuota``.

    Quantities are Kubernetes strings; counts are integers. Unset fields are
    not limited. ``cpu``, ``memory`` and ``gpus`` limit the sum of requests of
    all pods (``requests.cpu``, ``requests.memory``, ``requests.nvidia.com/gpu``).
    """

    cpu: Quantity | None = None
    memory: Quantity | None = None
    gpus: int | None = Field(default=None, ge=0)
    pods: int | None = Field(default=None, ge=0)
    persistentvolumeclaims: int | None = Field(default=None, ge=0)
    storage: Quantity | None = None
    key: ClassVar[str] = "quota"


class LimitRangeSpec(_Limits):
    """Per-container bounds and defaults in a user's namespace, as one ``LimitRange``.

    ``max_*`` cap a container's limits; ``default_*`` are the limits and
    ``default_*_request`` the requests given to containers that set none.
    """

    max_cpu: Quantity | None = None
    max_memory: Quantity | None = None
    default_cpu: Quantity | None = None
    default_memory: Quantity | None = None
    default_cpu_request: Quantity | None = None
    default_memory_request: Quantity | None = None
    key: ClassVar[str] = "limit_range"


PodSecurityLevel = Literal["privileged", "baseline", "restricted"]
"""Pod Security Standard enforced on a user's namespace (``pod-security.kubernetes.io/enforce``)."""


class UserSpec(_Spec):
    """A user of the platform: namespace ``dev-<name>``, credentials, limits.

    Attributes:
        name: RFC 1035 label of at most 30 characters (it is part of stack names).
        ssh_public_keys: OpenSSH public keys registered for the user, published
            in their namespace; normalised and deduplicated.
        quota: ResourceQuota of the namespace; ``None`` uses the platform default.
        limit_range: LimitRange of the namespace; ``None`` uses the platform default.
    """

    name: UserName
    ssh_public_keys: tuple[str, ...] = ()
    quota: QuotaSpec | None = None
    limit_range: LimitRangeSpec | None = None

    @field_validator("ssh_public_keys")
    @classmethod
    def _keys(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        if not keys:
            return keys
        return tuple(parse_public_keys("\n".join(keys), "ssh_public_keys"))

    @property
    def namespace(self) -> str:
        """The user's namespace, ``dev-<name>``."""
        return naming.user_namespace(self.name)


class DefaultsSpec(_Spec):
    """What every user gets unless their own entry says otherwise."""

    quota: QuotaSpec | None = None
    limit_range: LimitRangeSpec | None = None
    pod_security: PodSecurityLevel = "restricted"


class ReaperSpec(_Spec):
    """The reaper as a Kubernetes CronJob in the system namespace (off by default).

    Attributes:
        image: The reaper image (``images/reaper/Dockerfile``), pushed where
            the cluster can pull it.
        schedule: Cron schedule (``crontab(5)`` syntax, UTC).
        command: Container command; ``args`` follow it (default: one pass,
            its report as one JSON line on stdout, for ``kubectl logs``).
        env: Environment of the reaper (settings as ``DEVSERVERS_*``; never
            credentials: they belong in ``env_secret``).
        env_secret: Name of a Secret in the system namespace whose keys become
            environment variables: the state backend's URL
            (``DEVSERVERS_BACKEND_URL``) and its passphrase
            (``PULUMI_CONFIG_PASSPHRASE``).
        starting_deadline_seconds: A run that could not start this long after
            its schedule (controller down, previous run still going) is
            skipped, not piled up (``startingDeadlineSeconds``).
        active_deadline_seconds: A pass still running after this long is
            killed (``activeDeadlineSeconds``); the next one resumes what it left.
    """

    enabled: bool = False
    image: str | None = None
    schedule: str = "*/5 * * * *"
    command: tuple[str, ...] = ("python", "-m", "devservers.reaper")
    args: tuple[str, ...] = ("--once", "--output", "json")
    env: dict[str, str] = Field(default_factory=dict)
    env_secret: str | None = None
    starting_deadline_seconds: int = Field(default=120, ge=10, le=86400)
    active_deadline_seconds: int = Field(default=1800, ge=60, le=86400)

    @model_validator(mode="after")
    def _check(self) -> ReaperSpec:
        if self.enabled and not self.image:
            raise ValueError("image must be set when the reaper is enabled")
        if len(self.schedule.split()) != 5:
            raise ValueError(f"schedule {self.schedule!r} must have 5 cron fields")
        return self


class PlatformSpec(_Spec):
    """The whole platform: system namespace, flavor catalog, users, reaper.

    Raises:
        pydantic.ValidationError: Naming the field at fault, e.g.
            ``flavors`` (two defaults), ``flavors.1`` (requests over limits),
            ``users.0.name`` (a bad user name).
    """

    system_namespace: Namespace = SYSTEM_NAMESPACE
    flavors: tuple[FlavorSpec, ...]
    users: tuple[UserSpec, ...] = ()
    defaults: DefaultsSpec = DefaultsSpec()
    reaper: ReaperSpec = ReaperSpec()

    @field_validator("flavors")
    @classmethod
    def _catalog(cls, flavors: tuple[FlavorSpec, ...]) -> tuple[FlavorSpec, ...]:
        return check_catalog(flavors)

    @field_validator("users")
    @classmethod
    def _unique(cls, users: tuple[UserSpec, ...], info: ValidationInfo) -> tuple[UserSpec, ...]:
        names = [u.name for u in users]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"user {twice[0]!r} is defined more than once")
        for user in users:
            if user.namespace == info.data.get("system_namespace"):
                raise ValueError(f"user {user.name!r} would share the system namespace")
        return users

    def quota_of(self, user: UserSpec) -> QuotaSpec | None:
        """The user's quota, else the default one."""
        return user.quota or self.defaults.quota

    def limit_range_of(self, user: UserSpec) -> LimitRangeSpec | None:
        """The user's LimitRange, else the default one."""
        return user.limit_range or self.defaults.limit_range
