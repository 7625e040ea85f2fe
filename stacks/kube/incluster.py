"""A kubeconfig file for the pod's ServiceAccount, so that a pod uses the same path as a laptop.

In a pod (the reaper's CronJob) there is no kubeconfig; client-go's
in-cluster config reads the API server's address from
``KUBERNETES_SERVICE_HOST``/``KUBERNETES_SERVICE_PORT`` and the credentials
from the mounted ServiceAccount. This module writes the same as a kubeconfig
file, at one fixed path, which both the Kubernetes client and the stacks'
Kubernetes provider are then given like any kubeconfig. A stack's provider
records that path: a path that exists only in pods (and a laptop's path that
does not exist in them) is a kubeconfig pulumi-kubernetes cannot read on the
other side, so it skips its cluster-change check and updates the provider
instead of replacing what it manages (pulumi/pulumi-kubernetes#2771).
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from devservers.stacks.base.settings import SERVICE_ACCOUNT_TOKEN

SERVICE_ACCOUNT = SERVICE_ACCOUNT_TOKEN.parent
"""Where Kubernetes mounts a pod's ServiceAccount: ``token``, ``ca.crt``, ``namespace``."""


def write_service_account_kubeconfig(path: Path) -> Path:
    """Writes (or rewrites) the pod's ServiceAccount kubeconfig at ``path``; returns it.

    The token is referenced (``tokenFile``), never copied: the kubelet rotates it.

    Raises:
        OSError: ``path`` cannot be written.
    """
    host, port = os.environ["KUBERNETES_SERVICE_HOST"], os.environ["KUBERNETES_SERVICE_PORT"]
    server = f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "in-cluster",
                "cluster": {
                    "server": server,
                    "certificate-authority": str(SERVICE_ACCOUNT / "ca.crt"),
                },
            }
        ],
        "users": [
            {"name": "service-account", "user": {"tokenFile": str(SERVICE_ACCOUNT / "token")}}
        ],
        "contexts": [
            {"name": "in-cluster", "context": {"cluster": "in-cluster", "user": "service-account"}}
        ],
        "current-context": "in-cluster",
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path
