"""The DevServer component: one SSH-able pod with its Service, keys and volumes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from devservers.components import labels as lbl
from devservers.components.access import DevServerUser
from devservers.components.flavor import DevServerFlavor
from devservers.components.specs import HOME_PATH, DevServerSpec
from devservers.components.sshd import (
    CARRIER_DIR,
    CONTAINER,
    SSH_PORT,
    SshdPaths,
    render_passwd_script,
    render_sshd_config,
    render_start_script,
)
from devservers.components.volumes import DevServerVolumes

DEV_UID = 1000
"""UID and GID of the unprivileged DevServer user that runs sshd."""

INIT_RESOURCES = {
    "requests": {"cpu": "10m", "memory": "16Mi"},
    "limits": {"cpu": "500m", "memory": "64Mi"},
}
"""Resources of each init container (a copy of a few MiB, a passwd file)."""

_CONTAINER_SECURITY = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
"""Every container's securityContext (Pod Security "restricted", with the pod's)."""


class DevServer(pulumi.ComponentResource):
    """A DevServer: Deployment (Recreate), SSH Service, sshd config, activity Lease.

    The pod runs the user's image with sshd brought by the DevServer: init
    container ``sshd`` copies the sshd carrier image's files into an emptyDir
    that the other containers mount read-only; init container ``passwd``
    runs the user's image to write its passwd and group files with user
    ``dev`` added, which the main container mounts over ``/etc/passwd`` and
    ``/etc/group``; the main container runs the carrier's sshd.

    Composed of :class:`DevServerUser` (keys), :class:`DevServerFlavor`
    (sizing) and :class:`DevServerVolumes` (claims and home). Every object
    carries the labels of :mod:`devservers.components.labels` and the expiry
    annotation; the pod template carries only the labels, so that changing the
    expiry never restarts the pod.

    Args:
        spec: The validated DevServer spec.
        host_private_keys: Mapping of host key type → OpenSSH private key text,
            generated once and passed on every update so the keys stay stable.
        replicas: 1 for a running server, 0 for a stopped one.
        timeout_seconds: Bound on waiting for the Deployment and Service to be ready.
        wait: Whether the engine waits for readiness (``pulumi.com/skipAwait``).
        backend: The state backend holding the stack (URL without credentials), recorded on
            every object (:data:`~devservers.components.labels.BACKEND`).
        opts: Resource options; pass the explicit Kubernetes provider here.

    Attributes:
        namespace: The namespace holding every object.
        deployment: Name of the Deployment (the server name).
        service: Name of the SSH Service (``<name>-ssh``, port 22).
        expiry: RFC 3339 UTC expiry instant.
    """

    namespace: pulumi.Output[str]
    deployment: pulumi.Output[str]
    service: pulumi.Output[str]
    expiry: pulumi.Output[str]

    def __init__(
        self,
        spec: DevServerSpec,
        *,
        host_private_keys: Mapping[str, str],
        replicas: int = 1,
        timeout_seconds: int = 600,
        wait: bool = True,
        backend: str | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("devservers:index:DevServer", spec.name, None, opts)
        name, ns = spec.name, spec.namespace
        child = pulumi.ResourceOptions(parent=self)
        timeouts = pulumi.CustomTimeouts(
            create=f"{timeout_seconds}s", update=f"{timeout_seconds}s", delete=f"{timeout_seconds}s"
        )
        labels = lbl.server_labels(spec.user, name, spec.stack, spec.flavor.name)
        notes = lbl.server_annotations(spec.expiry, spec.idle_timeout_seconds, backend)
        leaf = {**notes, **lbl.FORCE_APPLY, **lbl.DELETE_IN_BACKGROUND}
        awaited = leaf if wait else {**leaf, "pulumi.com/skipAwait": "true"}
        meta = {"namespace": ns, "labels": labels, "annotations": leaf}

        user = DevServerUser(
            name,
            namespace=ns,
            public_keys=spec.ssh_public_keys,
            host_private_keys=host_private_keys,
            labels=labels,
            annotations=leaf,
            timeouts=timeouts,
            opts=child,
        )
        flavor = DevServerFlavor(f"{name}-flavor", flavor=spec.flavor, opts=child)
        volumes = DevServerVolumes(f"{name}-volumes", namespace=ns, volumes=spec.mounts, opts=child)
        paths = SshdPaths()
        sshd = k8s.core.v1.ConfigMap(
            f"{name}-sshd",
            metadata={"name": f"{name}-sshd", **meta},
            data={
                "sshd_config": render_sshd_config(paths),
                "start.sh": render_start_script(paths),
                "passwd.sh": render_passwd_script(paths),
            },
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=timeouts),
        )
        pod_labels = {**labels, **lbl.selector_labels(spec.user, name)}
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata={"name": name, **meta, "annotations": awaited},
            spec={
                "replicas": replicas,
                "strategy": {"type": "Recreate"},
                "selector": {"matchLabels": lbl.selector_labels(spec.user, name)},
                "template": {
                    # No expiry here: a changed pod template would restart the pod on extend.
                    "metadata": {"labels": pod_labels},
                    "spec": _pod_spec(spec, paths, user, flavor, volumes, sshd),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=timeouts),
        )
        service = k8s.core.v1.Service(
            f"{name}-ssh",
            # Never awaited: the Deployment's await already means a Ready pod, and SSH
            # reaches the pod by port-forward, not through the Service's endpoints.
            # Awaiting it cost ~10 s per create (the provider's endpoint polling).
            metadata={
                "name": f"{name}-ssh",
                **meta,
                "annotations": {**leaf, "pulumi.com/skipAwait": "true"},
            },
            spec={
                "type": "ClusterIP",
                "selector": lbl.selector_labels(spec.user, name),
                "ports": [{"name": "ssh", "port": 22, "targetPort": "ssh", "protocol": "TCP"}],
            },
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=timeouts),
        )
        # The activity Lease that open tunnels renew (the idle stop's connection
        # signal). Its spec is the renewers' (another field manager): none here.
        k8s.coordination.v1.Lease(
            name,
            metadata={"name": name, **meta},
            opts=pulumi.ResourceOptions(parent=self, custom_timeouts=timeouts),
        )
        self.namespace = pulumi.Output.from_input(ns)
        self.deployment = deployment.metadata.name
        self.service = service.metadata.name
        self.expiry = pulumi.Output.from_input(notes[lbl.EXPIRY])
        self.register_outputs(
            {
                "namespace": self.namespace,
                "deployment": self.deployment,
                "service": self.service,
                "expiry": self.expiry,
            }
        )


def _pod_spec(
    spec: DevServerSpec,
    paths: SshdPaths,
    user: DevServerUser,
    flavor: DevServerFlavor,
    volumes: DevServerVolumes,
    sshd: k8s.core.v1.ConfigMap,
) -> dict[str, Any]:
    return {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsUser": DEV_UID,
            "runAsGroup": DEV_UID,
            "runAsNonRoot": True,
            "fsGroup": DEV_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "nodeSelector": flavor.node_selector,
        "tolerations": flavor.tolerations,
        "initContainers": _init_containers(spec, paths),
        "containers": [_main_container(spec, paths, flavor, volumes)],
        "volumes": [
            {"name": "sshd", "configMap": {"name": sshd.metadata.name}},
            {
                "name": "host-keys",
                "secret": {"secretName": user.host_keys_secret, "defaultMode": 0o400},
            },
            {
                "name": "authorized-keys",
                "secret": {"secretName": user.authorized_keys_secret, "defaultMode": 0o444},
            },
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}},
            {"name": "carrier", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "passwd", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            flavor.shm_volume,
            *volumes.volumes,
        ],
    }


def _init_containers(spec: DevServerSpec, paths: SshdPaths) -> list[dict[str, Any]]:
    """``sshd`` copies the carrier into place; ``passwd`` writes the user's image's passwd/group."""
    carrier = {"name": "carrier", "mountPath": paths.carrier_dir}
    common = {
        "resources": INIT_RESOURCES,
        "securityContext": _CONTAINER_SECURITY,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return [
        {
            "name": "sshd",
            "image": spec.sshd_image,
            "command": [
                f"{CARRIER_DIR}/busybox",
                "cp",
                "-R",
                f"{CARRIER_DIR}/.",
                paths.carrier_dir,
            ],
            "volumeMounts": [carrier],
            **common,
        },
        {
            "name": "passwd",
            "image": spec.image,
            "command": [f"{paths.carrier_dir}/busybox", "sh", f"{paths.config_dir}/passwd.sh"],
            "env": [{"name": "HOME", "value": HOME_PATH}],
            "volumeMounts": [
                {**carrier, "readOnly": True},
                {"name": "sshd", "mountPath": paths.config_dir, "readOnly": True},
                {"name": "passwd", "mountPath": paths.passwd_dir},
            ],
            **common,
        },
    ]


def _main_container(
    spec: DevServerSpec, paths: SshdPaths, flavor: DevServerFlavor, volumes: DevServerVolumes
) -> dict[str, Any]:
    """The user's image running the carrier's sshd through the start script."""
    return {
        "name": CONTAINER,
        "image": spec.image,
        "command": [f"{paths.carrier_dir}/busybox", "sh", f"{paths.config_dir}/start.sh"],
        "env": [{"name": "HOME", "value": HOME_PATH}, {"name": "USER", "value": "dev"}],
        "ports": [{"name": "ssh", "containerPort": SSH_PORT, "protocol": "TCP"}],
        "readinessProbe": {"tcpSocket": {"port": "ssh"}, "periodSeconds": 5},
        "resources": flavor.resources,
        "securityContext": _CONTAINER_SECURITY,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [
            {"name": "carrier", "mountPath": paths.carrier_dir, "readOnly": True},
            {"name": "sshd", "mountPath": paths.config_dir, "readOnly": True},
            {"name": "host-keys", "mountPath": paths.host_keys_dir, "readOnly": True},
            {"name": "authorized-keys", "mountPath": paths.authorized_keys_dir, "readOnly": True},
            {"name": "passwd", "mountPath": "/etc/passwd", "subPath": "passwd", "readOnly": True},
            {"name": "passwd", "mountPath": "/etc/group", "subPath": "group", "readOnly": True},
            {"name": "run", "mountPath": paths.run_dir},
            {"name": flavor.shm_volume["name"], "mountPath": "/dev/shm"},
            *volumes.mounts,
        ],
    }
