"""The DevServer component under Pulumi mocks: which objects it creates, and how."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pulumi
import pytest

from devservers.components import DevServerSpec, FlavorSpec, Toleration, VolumeSpec
from devservers.components.devserver import DevServer
from devservers.components.durations import parse_instant
from devservers.components.naming import object_names
from devservers.components.specs import DEFAULT_SSHD_IMAGE
from devservers.components.sshd import (
    CARRIER_DIR,
    SshdPaths,
    render_passwd_script,
    render_sshd_config,
    render_start_script,
)
from devservers.components.sshkeys import parse_public_keys

# Wire format of a secret value as the mocks receive it: {_SIG_KEY: _SECRET_SIG, "value": ...}
# (pulumi.runtime.rpc._special_sig_key and _special_secret_sig).
_SIG_KEY = "4dabf18193072939515e22adb298388d"
_SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"

_GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
_GPU_SELECTOR = {"nvidia.com/gpu.present": "true", "pool": "a100"}
_HOST_KEYS = {"ed25519": "HOST-ED25519-PRIVATE"}
REPO = Path(__file__).resolve().parents[2]

_CPU = FlavorSpec(
    name="cpu-small",
    cpu_request="1",
    cpu_limit="2",
    memory_request="4Gi",
    memory_limit="8Gi",
    shm_size="2Gi",
)
_GPU = FlavorSpec(
    name="gpu-2",
    cpu_request="8",
    cpu_limit="16",
    memory_request="64Gi",
    memory_limit="128Gi",
    gpus=2,
    shm_size="32Gi",
    node_selector=_GPU_SELECTOR,
    tolerations=(Toleration(**_GPU_TOLERATION),),
)
_VOLUMES = ("data:/data:ro", "home-claim:/home/dev")


@pytest.fixture
def make_spec(make_public_key):
    keys = tuple(parse_public_keys(make_public_key("ed25519", "alice@laptop")))

    def make(flavor: FlavorSpec = _GPU, volumes: tuple[str, ...] = _VOLUMES) -> DevServerSpec:
        return DevServerSpec(
            name="box",
            user="alice",
            namespace="dev-alice",
            flavor=flavor,
            volumes=tuple(VolumeSpec.parse(v) for v in volumes),
            ssh_public_keys=keys,
            image="ghcr.io/example/devserver:1",
            expiry=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        )

    return make


def _unsecret(value: Any) -> Any:
    if isinstance(value, dict) and value.get(_SIG_KEY) == _SECRET_SIG:
        return value["value"]
    return value


def _build(mocks, spec: DevServerSpec) -> dict[tuple[str, str], Any]:
    """Runs a DevServer program; returns the created Kubernetes objects by (type, name)."""
    seen: dict[str, Any] = {}

    @pulumi.runtime.test
    def program():
        server = DevServer(spec, host_private_keys=_HOST_KEYS)

        def check(args: list[str]) -> None:
            namespace, deployment, service, expiry = args
            seen.update(namespace=namespace, deployment=deployment, service=service)
            assert namespace == spec.namespace
            assert deployment == spec.name
            assert service == f"{spec.name}-ssh"
            assert parse_instant(expiry) == spec.expiry

        return pulumi.Output.all(
            server.namespace, server.deployment, server.service, server.expiry
        ).apply(check)

    program()
    assert seen, "the DevServer outputs never resolved"
    created: dict[tuple[str, str], Any] = {}
    for r in mocks.created:
        if r.typ.startswith("kubernetes:"):
            assert (r.typ, r.name) not in created, f"{r.typ} {r.name} registered twice"
            created[(r.typ, r.name)] = r.inputs
    return created


def _deployment(objects: dict[tuple[str, str], Any]) -> dict[str, Any]:
    deployments = [v for (typ, _), v in objects.items() if typ == "kubernetes:apps/v1:Deployment"]
    assert len(deployments) == 1
    return deployments[0]


def _pod(objects) -> dict[str, Any]:
    return _deployment(objects)["spec"]["template"]["spec"]


def _container(objects) -> dict[str, Any]:
    containers = _pod(objects)["containers"]
    assert len(containers) == 1
    return containers[0]


def _mount_at(objects, path: str) -> dict[str, Any]:
    mounts = [m for m in _container(objects)["volumeMounts"] if m["mountPath"] == path]
    assert len(mounts) == 1, f"{len(mounts)} mounts at {path}"
    return mounts[0]


def _volume(objects, name: str) -> dict[str, Any]:
    volumes = [v for v in _pod(objects)["volumes"] if v["name"] == name]
    assert len(volumes) == 1, f"{len(volumes)} pod volumes named {name}"
    return volumes[0]


@pytest.fixture(params=["gpu", "cpu"])
def built(request, pulumi_mocks, make_spec):
    """(spec, created objects, mocks) for a GPU server with a home claim, a CPU one without."""
    if request.param == "gpu":
        spec = make_spec(_GPU, _VOLUMES)
    else:
        spec = make_spec(_CPU, ("data:/data:ro",))
    return spec, _build(pulumi_mocks, spec), pulumi_mocks


# --- which objects ----------------------------------------------------------


def test_creates_exactly_the_expected_objects(built) -> None:
    _, objects, _ = built

    assert sorted(objects) == sorted(
        [
            ("kubernetes:apps/v1:Deployment", "box"),
            ("kubernetes:core/v1:Service", "box-ssh"),
            ("kubernetes:core/v1:Secret", "box-authorized-keys"),
            ("kubernetes:core/v1:Secret", "box-host-keys"),
            ("kubernetes:core/v1:ConfigMap", "box-sshd"),
            ("kubernetes:coordination.k8s.io/v1:Lease", "box"),
        ]
    )
    # create checks these names for objects it does not own
    assert sorted((t.rsplit(":", 1)[1], n) for t, n in objects) == sorted(object_names("box"))
    for (_, name), inputs in objects.items():
        assert inputs["metadata"]["name"] == name
        assert inputs["metadata"]["namespace"] == "dev-alice"


def test_never_creates_namespaces_or_claims(built) -> None:
    _, _, mocks = built
    created_types = {r.typ for r in mocks.created}

    assert "kubernetes:core/v1:Namespace" not in created_types
    assert "kubernetes:core/v1:PersistentVolumeClaim" not in created_types


def test_claims_are_only_read(built) -> None:
    spec, _, mocks = built

    assert all(r.typ == "kubernetes:core/v1:PersistentVolumeClaim" for r in mocks.read)
    assert sorted(r.resource_id for r in mocks.read) == sorted(
        {f"{spec.namespace}/{v.claim}" for v in spec.mounts}
    )


def test_claim_mounted_twice_is_read_and_attached_once(pulumi_mocks, make_spec) -> None:
    spec = make_spec(_CPU, ("data:/data:ro", "data:/scratch"))

    objects = _build(pulumi_mocks, spec)

    assert [r.resource_id for r in pulumi_mocks.read] == ["dev-alice/data"]
    claim_volumes = [v for v in _pod(objects)["volumes"] if "persistentVolumeClaim" in v]
    assert len(claim_volumes) == 1
    # Attached writable since one mount writes; each mount keeps its own mode.
    assert claim_volumes[0]["persistentVolumeClaim"]["readOnly"] is False
    assert _mount_at(objects, "/data")["readOnly"] is True
    assert _mount_at(objects, "/scratch").get("readOnly", False) is False


def test_every_object_is_labelled_and_annotated(built) -> None:
    spec, objects, _ = built
    deployment = _deployment(objects)
    metas = [o["metadata"] for o in objects.values()]
    pod = deployment["spec"]["template"]["metadata"]

    for meta in [*metas, pod]:
        labels = meta["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "devservers"
        assert labels["devservers.dev/owner"] == "alice"
        assert labels["devservers.dev/stack"] == "alice.box"
        assert labels["devservers.dev/server"] == "box"
        assert labels["devservers.dev/flavor"] == spec.flavor.name
    for meta in metas:
        assert parse_instant(meta["annotations"]["devservers.dev/expiry"]) == spec.expiry
    # The expiry changes on extend; in the pod template it would restart the pod.
    assert "devservers.dev/expiry" not in pod.get("annotations", {})


def test_every_object_takes_over_fields_left_by_an_interrupted_update(built) -> None:
    _, objects, _ = built
    for key, obj in objects.items():
        assert obj["metadata"]["annotations"].get("pulumi.com/patchForce") == "true", key


def test_no_object_waits_for_the_garbage_collector_on_delete(built) -> None:
    # The delete waits for the pods itself (tests/integration/test_devctl.py).
    _, objects, _ = built
    policies = {
        key: obj["metadata"]["annotations"].get("pulumi.com/deletionPropagationPolicy")
        for key, obj in objects.items()
    }
    assert set(policies.values()) == {"background"}


# --- deployment and service -------------------------------------------------


def test_deployment_runs_one_pod_recreated(built) -> None:
    _, objects, _ = built
    deployment = _deployment(objects)["spec"]

    assert deployment["replicas"] == 1
    assert deployment["strategy"] == {"type": "Recreate"}
    selector = deployment["selector"]["matchLabels"]
    assert selector.items() <= deployment["template"]["metadata"]["labels"].items()


def test_service_is_cluster_ip_port_22_to_sshd(built) -> None:
    _, objects, _ = built
    service = objects[("kubernetes:core/v1:Service", "box-ssh")]["spec"]
    pod_labels = _deployment(objects)["spec"]["template"]["metadata"]["labels"]

    assert service["type"] == "ClusterIP"
    assert [p["port"] for p in service["ports"]] == [22]
    assert service["selector"].items() <= pod_labels.items()
    # The target port resolves to the container port sshd listens on.
    (target,) = [p["targetPort"] for p in service["ports"]]
    (port,) = [p for p in _container(objects)["ports"] if p["name"] == target]
    sshd_config = objects[("kubernetes:core/v1:ConfigMap", "box-sshd")]["data"]["sshd_config"]
    assert f"Port {int(port['containerPort'])}" in sshd_config.splitlines()


def test_pod_is_locked_down(built) -> None:
    _, objects, _ = built
    pod, container = _pod(objects), _container(objects)

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    for each in (container, *pod["initContainers"]):  # Pod Security "restricted"
        assert each["securityContext"]["allowPrivilegeEscalation"] is False
        assert each["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert "privileged" not in each["securityContext"]
        assert "runAsUser" not in each["securityContext"]  # the pod's 1000 holds


def _init(objects, name: str) -> dict[str, Any]:
    found = [c for c in _pod(objects)["initContainers"] if c["name"] == name]
    assert len(found) == 1
    return found[0]


def test_sshd_comes_from_the_carrier_image_not_the_users(built) -> None:
    spec, objects, _ = built
    paths = SshdPaths()
    assert [c["name"] for c in _pod(objects)["initContainers"]] == ["sshd", "passwd"]
    copy = _init(objects, "sshd")
    assert copy["image"] == spec.sshd_image == DEFAULT_SSHD_IMAGE
    assert copy["command"][-2:] == [f"{CARRIER_DIR}/.", paths.carrier_dir]
    assert "emptyDir" in _volume(objects, copy["volumeMounts"][0]["name"])
    carrier = _mount_at(objects, paths.carrier_dir)
    assert carrier["name"] == copy["volumeMounts"][0]["name"]
    assert carrier["readOnly"] is True
    container = _container(objects)
    assert container["image"] == spec.image
    assert container["command"] == [
        f"{paths.carrier_dir}/busybox",
        "sh",
        f"{paths.config_dir}/start.sh",
    ]


def test_user_dev_resolves_from_files_the_users_image_writes(built) -> None:
    spec, objects, _ = built
    paths = SshdPaths()
    writer = _init(objects, "passwd")
    assert writer["image"] == spec.image
    assert writer["command"][-1] == f"{paths.config_dir}/passwd.sh"
    out = next(m for m in writer["volumeMounts"] if m["mountPath"] == paths.passwd_dir)
    for name in ("passwd", "group"):
        mount = _mount_at(objects, f"/etc/{name}")
        assert (mount["name"], mount["subPath"], mount["readOnly"]) == (out["name"], name, True)


def test_every_container_s_stderr_is_its_termination_message(built) -> None:
    _, objects, _ = built
    pod = _pod(objects)
    for each in (*pod["initContainers"], *pod["containers"]):
        assert each["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_the_default_carrier_is_the_one_images_build_sh_builds() -> None:
    listed = subprocess.run(
        ["bash", str(REPO / "images" / "build.sh"), "--list"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert DEFAULT_SSHD_IMAGE in [line.split()[0] for line in listed.splitlines()]


def test_shm_is_memory_backed_and_sized_by_flavor(built) -> None:
    spec, objects, _ = built

    shm = _volume(objects, _mount_at(objects, "/dev/shm")["name"])

    assert shm["emptyDir"] == {"medium": "Memory", "sizeLimit": spec.flavor.shm_size}


def test_resources_follow_the_flavor(built) -> None:
    spec, objects, _ = built
    resources = _container(objects)["resources"]
    flavor = spec.flavor

    assert resources["requests"]["cpu"] == flavor.cpu_request
    assert resources["limits"]["cpu"] == flavor.cpu_limit
    assert resources["requests"]["memory"] == flavor.memory_request
    assert resources["limits"]["memory"] == flavor.memory_limit
    if flavor.gpus:
        assert resources["requests"]["nvidia.com/gpu"] == str(flavor.gpus)
        assert resources["limits"]["nvidia.com/gpu"] == str(flavor.gpus)
    else:
        assert "nvidia.com/gpu" not in resources["requests"]
        assert "nvidia.com/gpu" not in resources["limits"]


def test_gpu_flavor_scheduling_is_carried(pulumi_mocks, make_spec) -> None:
    objects = _build(pulumi_mocks, make_spec(_GPU))
    pod, resources = _pod(objects), _container(objects)["resources"]

    assert resources["requests"]["nvidia.com/gpu"] == "2"
    assert resources["limits"]["nvidia.com/gpu"] == "2"
    assert pod["nodeSelector"] == _GPU_SELECTOR
    assert pod["tolerations"] == [_GPU_TOLERATION]


def test_cpu_flavor_has_no_scheduling_constraints(pulumi_mocks, make_spec) -> None:
    pod = _pod(_build(pulumi_mocks, make_spec(_CPU)))

    assert not pod.get("nodeSelector")
    assert not pod.get("tolerations")


# --- volumes ----------------------------------------------------------------


def test_claims_are_mounted_with_their_mode(built) -> None:
    spec, objects, _ = built

    for volume in spec.mounts:
        mount = _mount_at(objects, volume.mount_path)
        pod_volume = _volume(objects, mount["name"])
        assert pod_volume["persistentVolumeClaim"]["claimName"] == volume.claim
        assert mount.get("readOnly", False) is volume.read_only


def test_home_is_the_claim_when_one_mounts_it(pulumi_mocks, make_spec) -> None:
    spec = make_spec(_CPU, ("home-claim:/home/dev", "data:/data:ro"))
    assert spec.mounts_home

    objects = _build(pulumi_mocks, spec)

    home = _volume(objects, _mount_at(objects, "/home/dev")["name"])
    assert home["persistentVolumeClaim"]["claimName"] == "home-claim"
    assert not any("emptyDir" in v and v["name"] == "home" for v in _pod(objects)["volumes"])


@pytest.mark.parametrize("volumes", [(), ("data:/data:ro",), ("data:/home/dev/data",)])
def test_home_is_an_empty_dir_without_a_home_claim(
    pulumi_mocks, make_spec, volumes: tuple[str, ...]
) -> None:
    spec = make_spec(_CPU, volumes)
    assert not spec.mounts_home

    objects = _build(pulumi_mocks, spec)

    home = _volume(objects, _mount_at(objects, "/home/dev")["name"])
    assert home["name"] == "home"
    assert "emptyDir" in home
    assert _container(objects)["env"].count({"name": "HOME", "value": "/home/dev"}) == 1


def test_flavor_default_volumes_are_mounted(pulumi_mocks, make_spec) -> None:
    flavor = _CPU.model_copy(update={"default_volumes": (VolumeSpec.parse("sets:/datasets:ro"),)})
    objects = _build(pulumi_mocks, make_spec(flavor, ()))

    mount = _mount_at(objects, "/datasets")
    assert mount["readOnly"] is True
    assert _volume(objects, mount["name"])["persistentVolumeClaim"]["claimName"] == "sets"
    assert [r.resource_id for r in pulumi_mocks.read] == ["dev-alice/sets"]


# --- keys -------------------------------------------------------------------


def test_authorized_keys_secret_holds_the_users_keys(built) -> None:
    spec, objects, _ = built
    secret = objects[("kubernetes:core/v1:Secret", "box-authorized-keys")]

    authorized = _unsecret(secret["stringData"])["authorized_keys"]

    assert authorized.splitlines() == list(spec.ssh_public_keys)
    mount = _mount_at(objects, SshdPaths().authorized_keys_dir)
    assert _volume(objects, mount["name"])["secret"]["secretName"] == "box-authorized-keys"


def test_host_keys_secret_is_secret_and_mounted(built) -> None:
    _, objects, _ = built
    secret = objects[("kubernetes:core/v1:Secret", "box-host-keys")]

    assert secret["stringData"].get(_SIG_KEY) == _SECRET_SIG
    host_keys = _unsecret(secret["stringData"])
    assert host_keys == {f"ssh_host_{kind}_key": key for kind, key in _HOST_KEYS.items()}
    mount = _mount_at(objects, SshdPaths().host_keys_dir)
    assert mount["readOnly"] is True
    assert _volume(objects, mount["name"])["secret"]["secretName"] == "box-host-keys"


def test_sshd_config_map_is_mounted_and_started(built) -> None:
    _, objects, _ = built
    paths = SshdPaths()
    config_map = objects[("kubernetes:core/v1:ConfigMap", "box-sshd")]

    assert config_map["data"]["sshd_config"] == render_sshd_config(paths)
    assert config_map["data"]["start.sh"] == render_start_script(paths)
    assert config_map["data"]["passwd.sh"] == render_passwd_script(paths)
    mount = _mount_at(objects, paths.config_dir)
    assert _volume(objects, mount["name"])["configMap"]["name"] == "box-sshd"
    assert f"{paths.config_dir}/start.sh" in _container(objects)["command"]


# --- sshd -------------------------------------------------------------------


def test_sshd_config_is_key_only_and_unprivileged() -> None:
    lines = render_sshd_config(SshdPaths()).splitlines()

    for line in (
        "PasswordAuthentication no",
        "PermitRootLogin no",
        "AllowAgentForwarding yes",
        "Port 2222",
        "PubkeyAuthentication yes",
        "KbdInteractiveAuthentication no",
    ):
        assert line in lines


def test_sshd_config_has_no_client_options() -> None:
    text = render_sshd_config(SshdPaths())

    assert "StrictHostKeyChecking" not in text


def test_sshd_config_port_and_host_keys_follow_arguments() -> None:
    paths = SshdPaths(run_dir="/tmp/run")

    lines = render_sshd_config(paths, port=2022).splitlines()

    assert "Port 2022" in lines
    host_keys = [line.split(" ", 1)[1] for line in lines if line.startswith("HostKey ")]
    assert host_keys
    assert all(k.startswith("/tmp/run/") for k in host_keys)
    # The start script copies exactly those host keys into place.
    assert "/tmp/run" in render_start_script(paths)
