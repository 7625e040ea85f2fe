"""Validation of volume, flavor and DevServer specs, as a user meets it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import ValidationError

from devservers.components import naming
from devservers.components.specs import (
    HOME_PATH,
    SYSTEM_PATHS,
    DevServerSpec,
    FlavorSpec,
    Toleration,
    VolumeSpec,
)
from devservers.components.sshkeys import parse_public_keys

# --- VolumeSpec -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "claim", "path", "read_only"),
    [
        ("data:/data", "data", "/data", False),
        ("data:/data:ro", "data", "/data", True),
        ("data:/data:rw", "data", "/data", False),
        ("my.claim-1:/mnt/a/b", "my.claim-1", "/mnt/a/b", False),
        ("home:/home/dev:ro", "home", HOME_PATH, True),
    ],
)
def test_volume_parse_accepts(text: str, claim: str, path: str, read_only: bool) -> None:
    volume = VolumeSpec.parse(text)

    assert (volume.claim, volume.mount_path, volume.read_only) == (claim, path, read_only)


@pytest.mark.parametrize("text", ["data:/data", "data:/data:ro", "c.d:/x/y"])
def test_volume_str_round_trips(text: str) -> None:
    volume = VolumeSpec.parse(text)

    assert VolumeSpec.parse(str(volume)) == volume


def test_volume_trailing_slash_is_normalised() -> None:
    assert VolumeSpec.parse("data:/data/") == VolumeSpec.parse("data:/data")


@pytest.mark.parametrize(
    ("text", "named"),
    [
        # Wrong shape: the message quotes the whole text.
        ("data", "'data'"),
        ("data:/x:rx", "'data:/x:rx'"),
        ("data:/x:RO", "'data:/x:RO'"),
        ("data:/x:", "'data:/x:'"),
        ("data:/x:ro:ro", "'data:/x:ro:ro'"),
        ("a:b:c:d", "'a:b:c:d'"),
        # Right shape, bad part: the message quotes the offending part.
        ("data:", "mount path ''"),
        ("data:rel", "'rel'"),
        ("data:/a/../b", "'/a/../b'"),
        ("data:/a/./b", "'/a/./b'"),
        ("data:/a/..", "'/a/..'"),
        ("data:/", "'/'"),
        ("Data_1:/x", "'Data_1'"),
        (":/x", "claim ''"),
        ("-data:/x", "'-data'"),
        ("data:/dev/shm", "'/dev/shm'"),
        ("data:/dev/shm/x", "'/dev/shm/x'"),
        ("data:/etc/devserver", "'/etc/devserver'"),
        ("data:/etc/devserver/sshd", "'/etc/devserver/sshd'"),
        ("data:/run/devserver", "'/run/devserver'"),
    ],
)
def test_volume_parse_refuses(text: str, named: str) -> None:
    with pytest.raises(ValueError) as exc:
        VolumeSpec.parse(text)

    assert named in str(exc.value)


@pytest.mark.parametrize(
    "path",
    [
        "/devices",
        "/etcetera",
        "/runs",
        "/usrdata",
        "/data",
        "/home",
        "/home/dev/work",
        "/home/dev/.sshx",
        "/opt/models",
        "/tmp",
        "/mnt/scratch",
        "/var/cache/pip",
    ],
)
def test_paths_beside_the_system_ones_are_allowed(path: str) -> None:
    assert VolumeSpec.parse(f"data:{path}").mount_path == path


@pytest.mark.parametrize(
    "path",
    [
        "/usr/sbin",
        "/home/dev/.ssh",
        "/proc",
        "/bin",
        "/etc",
        "/lib",
        "/usr",
        "/dev",
        "/sys",
        "/run/devserver",
        "/var/run/devserver",
        "/lib64",
        "/usr/local/lib",
    ],
)
def test_paths_the_server_runs_on_are_refused_with_what_they_hold(path: str) -> None:
    with pytest.raises(ValueError) as exc:
        VolumeSpec.parse(f"data:{path}")

    assert repr(path) in str(exc.value)
    assert "runs on" in str(exc.value)


@pytest.mark.parametrize("system", SYSTEM_PATHS)
def test_system_paths_cannot_be_reached_with_a_double_slash(system: str) -> None:
    with pytest.raises(ValueError):
        VolumeSpec.parse(f"data:/{system}")


def test_volume_is_frozen_and_strict() -> None:
    volume = VolumeSpec.parse("data:/data")
    with pytest.raises(ValidationError):
        volume.read_only = True  # type: ignore[misc]
    with pytest.raises(ValidationError):
        VolumeSpec(claim="data", mount_path="/data", readonly=True)  # type: ignore[call-arg]


# --- FlavorSpec -------------------------------------------------------------


def _flavor(**overrides: Any) -> FlavorSpec:
    fields: dict[str, Any] = {
        "name": "small",
        "cpu_request": "500m",
        "cpu_limit": "2",
        "memory_request": "1Gi",
        "memory_limit": "4Gi",
    }
    return FlavorSpec(**{**fields, **overrides})


def test_flavor_defaults() -> None:
    flavor = _flavor()

    assert flavor.gpus == 0
    assert flavor.node_selector == {}
    assert flavor.tolerations == ()
    assert flavor.default_volumes == ()


def test_flavor_request_equal_to_limit_is_fine() -> None:
    flavor = _flavor(
        cpu_request="2000m", cpu_limit="2", memory_request="1024Mi", memory_limit="1Gi"
    )

    assert flavor.cpu_request == "2000m"


@pytest.mark.parametrize(
    ("kind", "requested", "limit"),
    [("cpu", "2500m", "2"), ("cpu", "3", "1"), ("memory", "5Gi", "4Gi"), ("memory", "2G", "1Gi")],
)
def test_flavor_request_over_limit_is_refused(kind: str, requested: str, limit: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _flavor(name="greedy", **{f"{kind}_request": requested, f"{kind}_limit": limit})

    message = str(exc.value)
    for part in ("greedy", kind, requested, limit):
        assert part in message


@pytest.mark.parametrize("field", ["cpu_request", "cpu_limit", "memory_limit", "shm_size"])
@pytest.mark.parametrize("bad", ["lots", "-1", "", "4GB", "-500m"])
def test_flavor_bad_quantity_is_refused(field: str, bad: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _flavor(**{field: bad})

    assert repr(bad) in str(exc.value)


@pytest.mark.parametrize("good", ["1e3", "1.5Gi", "+1", "0"])
def test_flavor_kubernetes_quantity_forms_are_accepted(good: str) -> None:
    assert _flavor(cpu_limit="2000", shm_size=good).shm_size == good


@pytest.mark.parametrize("bad", ["1 Gi", " 2", "2\n", "1_000", "Infinity"])
def test_flavor_quantity_not_accepted_by_kubernetes_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError):
        _flavor(shm_size=bad)


def test_flavor_nan_quantity_is_refused_as_validation_error() -> None:
    with pytest.raises(ValidationError):
        _flavor(cpu_request="NaN")


@pytest.mark.parametrize("gpus", [0, 1, 8, 16])
def test_flavor_gpus_in_range(gpus: int) -> None:
    assert _flavor(gpus=gpus).gpus == gpus


@pytest.mark.parametrize("gpus", [-1, 17, 1000])
def test_flavor_gpus_out_of_range_are_refused(gpus: int) -> None:
    with pytest.raises(ValidationError, match="gpus"):
        _flavor(gpus=gpus)


def test_flavor_valid_node_selector() -> None:
    selector = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "pool": "gpu", "empty": ""}

    assert _flavor(node_selector=selector).node_selector == selector


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("bad key", "x"),
        ("UPPER_prefix.example/pool", "x"),
        ("a/b/c", "x"),
        ("example.com/", "x"),
        ("k" * 64, "x"),
        ("pool", "has space"),
        ("pool", "-leading"),
        ("pool", "v" * 64),
        ("pool", "a:b"),
    ],
)
def test_flavor_invalid_node_selector_is_refused(key: str, value: str) -> None:
    with pytest.raises(ValidationError) as exc:
        _flavor(node_selector={key: value})

    message = str(exc.value)
    assert repr(key) in message or repr(value) in message


def test_flavor_node_selector_key_with_empty_prefix_is_refused() -> None:
    with pytest.raises(ValidationError):
        _flavor(node_selector={"/pool": "gpu"})


def test_flavor_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError, match="colour"):
        _flavor(colour="red")


def test_flavor_is_frozen() -> None:
    flavor = _flavor()

    with pytest.raises(ValidationError):
        flavor.gpus = 4  # type: ignore[misc]
    assert flavor.gpus == 0


@pytest.mark.parametrize("name", ["Small", "small_1", "1small", ""])
def test_flavor_name_must_be_a_label(name: str) -> None:
    with pytest.raises(ValidationError):
        _flavor(name=name)


def test_toleration_refuses_unknown_operator_and_effect() -> None:
    with pytest.raises(ValidationError):
        Toleration(key="k", operator="Sometimes")  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        Toleration(key="k", effect="NoWay")  # type: ignore[arg-type]


# --- DevServerSpec ----------------------------------------------------------


@pytest.fixture
def ssh_keys(make_public_key) -> tuple[str, ...]:
    return tuple(parse_public_keys(make_public_key("ed25519", "alice@laptop")))


@pytest.fixture
def server(ssh_keys):
    """Factory of DevServerSpecs: valid by default, any field overridable."""

    def make(**overrides: Any) -> DevServerSpec:
        fields: dict[str, Any] = {
            "name": "box",
            "user": "alice",
            "namespace": "dev-alice",
            "flavor": _flavor(),
            "ssh_public_keys": ssh_keys,
            "image": "ghcr.io/example/devserver:1",
            "expiry": datetime(2030, 1, 1, tzinfo=UTC),
        }
        return DevServerSpec(**{**fields, **overrides})

    return make


def test_server_valid(server) -> None:
    spec = server(volumes=(VolumeSpec.parse("data:/data:ro"),))

    assert spec.stack == "alice.box"
    assert naming.parse_stack_name(spec.stack) == (spec.user, spec.name)


@pytest.mark.parametrize(
    "volumes",
    [
        ("data:/data", "other:/data"),
        ("data:/data", "data:/data:ro"),
        ("data:/data/", "other:/data"),
        ("a:/home/dev", "b:/home/dev:ro"),
    ],
)
def test_server_duplicate_mount_paths_are_refused(server, volumes: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError, match="same path"):
        server(volumes=tuple(VolumeSpec.parse(v) for v in volumes))


def test_server_user_volume_clashing_with_flavor_default_is_refused(server) -> None:
    flavor = _flavor(default_volumes=(VolumeSpec.parse("scratch:/scratch"),))

    with pytest.raises(ValidationError) as exc:
        server(flavor=flavor, volumes=(VolumeSpec.parse("mine:/scratch:ro"),))

    message = str(exc.value)
    assert "scratch:/scratch" in message
    assert "mine:/scratch:ro" in message


def test_server_mounts_are_user_volumes_then_flavor_defaults(server) -> None:
    default = VolumeSpec.parse("datasets:/datasets:ro")
    mine = VolumeSpec.parse("mine:/work")

    spec = server(flavor=_flavor(default_volumes=(default,)), volumes=(mine,))

    assert spec.mounts == (mine, default)


@pytest.mark.parametrize(
    "name",
    ["Box", "1box", "box-", "-box", "b_x", "b.x", "a" * 31, ""],
)
def test_server_name_rules(server, name: str) -> None:
    with pytest.raises(ValidationError) as exc:
        server(name=name)

    assert "server name" in str(exc.value)


@pytest.mark.parametrize("name", ["a" * 30, "b", "gpu-box-2"])
def test_server_name_accepted(server, name: str) -> None:
    assert server(name=name).name == name


@pytest.mark.parametrize("user", ["Alice", "al.ice", "9lives", "u" * (naming.MAX_USER_NAME + 1)])
def test_server_user_rules(server, user: str) -> None:
    with pytest.raises(ValidationError, match="user"):
        server(user=user)


def test_server_naive_expiry_is_refused(server) -> None:
    with pytest.raises(ValidationError, match="timezone"):
        server(expiry=datetime(2030, 1, 1))


def test_server_expiry_with_any_offset_is_accepted(server) -> None:
    expiry = datetime(2030, 1, 1, 9, tzinfo=timezone(timedelta(hours=-5)))

    assert server(expiry=expiry).expiry == expiry


def test_server_unnormalised_keys_are_refused(server, make_public_key) -> None:
    kind, blob = make_public_key("ed25519").split()
    key = f"{kind} {blob}"
    for keys in (
        (f"{kind}  {blob}",),
        (f"{key} ",),
        (f"\ufeff{key}",),
        (key, key),
    ):
        with pytest.raises(ValidationError, match="normalised"):
            server(ssh_public_keys=keys)


@pytest.mark.parametrize("keys", [(), ("not a key",), ("",)])
def test_server_without_valid_keys_is_refused(server, keys: tuple[str, ...]) -> None:
    with pytest.raises(ValidationError):
        server(ssh_public_keys=keys)


def test_server_empty_image_is_refused(server) -> None:
    with pytest.raises(ValidationError, match="image"):
        server(image="")


def test_server_unknown_field_is_refused(server) -> None:
    with pytest.raises(ValidationError, match="replicas"):
        server(replicas=2)


def test_server_is_frozen(server) -> None:
    spec = server()

    with pytest.raises(ValidationError):
        spec.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("volumes", "defaults", "mounts_home"),
    [
        ((), (), False),
        (("home:/home/dev",), (), True),
        (("home:/home/dev/",), (), True),
        ((), ("home:/home/dev:ro",), True),
        (("data:/home/dev/data",), (), False),
        (("data:/home",), (), False),
        (("data:/home/developer",), (), False),
    ],
)
def test_server_mounts_home(
    server, volumes: tuple[str, ...], defaults: tuple[str, ...], mounts_home: bool
) -> None:
    spec = server(
        volumes=tuple(VolumeSpec.parse(v) for v in volumes),
        flavor=_flavor(default_volumes=tuple(VolumeSpec.parse(v) for v in defaults)),
    )

    assert spec.mounts_home is mounts_home


def test_server_stack_is_user_dot_name(server) -> None:
    spec = server(user="bob", name="gpu-2")

    assert spec.stack == "bob.gpu-2"
