"""The reaper's pass with and without idle checks, at N running servers on kwok's fake nodes.

Each server is a labelled Deployment with one pod (kwok runs it) and its
activity Lease. The same servers are timed twice, interleaved: with an idle
timeout (the pass reads one list of Leases, one of pods and each node's
kubelet Summary) and without one (the expiry scan alone). Dry runs: nothing
is changed. kwok's fake kubelets serve no Summary API, so every server counts
as active with that reason, which is what a missing source must do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from commands import sh

IDLE_TIMEOUT = "devservers.dev/idle-timeout"


def running_servers(count: int, user: str, namespace: str) -> str:
    """``count`` Deployments (1 replica, on the two fake nodes) and their Leases, as a List."""
    items: list[dict[str, Any]] = []
    for i in range(count):
        name = f"i{i}"
        selector = {
            "app.kubernetes.io/name": "devserver",
            "devservers.dev/owner": user,
            "devservers.dev/server": name,
        }
        labels = {
            **selector,
            "app.kubernetes.io/managed-by": "devservers",
            "devservers.dev/stack": f"{user}.{name}",
            "devservers.dev/flavor": "fake-cpu",
        }
        meta = {"name": name, "namespace": namespace, "labels": labels}
        notes = {"devservers.dev/expiry": "2099-01-01T00:00:00Z", IDLE_TIMEOUT: "1h"}
        pod = {
            "nodeSelector": {"type": "kwok"},
            "containers": [{"name": "s", "image": "none"}],
            "tolerations": [{"operator": "Exists"}],  # both fake nodes: 110 pods each
        }
        spec = {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {"metadata": {"labels": selector}, "spec": pod},
        }
        items.append({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {**meta, "annotations": notes}, "spec": spec})  # fmt: skip
        items.append({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta})
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def idle_pass(
    reaper: list[str],
    env: dict[str, str],
    user: str,
    namespace: str,
    size: int,
    summary: Callable[[list[float]], dict[str, Any]],
    runs: int = 5,
) -> dict[str, Any]:
    """Dry-run passes over ``size`` running servers with and without idle timeouts."""
    sh("kubectl", "apply", "--server-side", "-f", "-", stdin=running_servers(size, user, namespace))
    selector = f"devservers.dev/owner={user},devservers.dev/flavor=fake-cpu"
    sh("kubectl", "wait", "deployments", "-n", namespace, "-l", selector,
       "--for=condition=Available", "--timeout=300s")  # fmt: skip
    timings: dict[str, list[float]] = {"with": [], "without": []}
    passes: dict[str, list[float]] = {"with": [], "without": []}
    for _ in range(runs):
        for variant, note in (("with", f"{IDLE_TIMEOUT}=1h"), ("without", f"{IDLE_TIMEOUT}-")):
            sh("kubectl", "annotate", "deployments", "-n", namespace, "-l", selector,
               "--overwrite", note)  # fmt: skip
            start = time.monotonic()
            report = json.loads(sh(*reaper, "--dry-run", env=env))
            timings[variant].append(time.monotonic() - start)
            passes[variant].append(report["duration_seconds"])
            acted = len(report["results"])
            if acted != (size if variant == "with" else 0):
                raise SystemExit(f"idle pass ({variant}) reported {acted} of {size} servers")
    sh("kubectl", "delete", "deployments,leases", "-n", namespace, "-l", selector, "--wait=true")
    with_, without = summary(passes["with"]), summary(passes["without"])
    return {
        "servers": size,
        "with_idle_pass": with_,
        "without_idle_pass": without,
        "with_idle_process": summary(timings["with"]),
        "without_idle_process": summary(timings["without"]),
        "ratio": round(with_["median"] / without["median"], 2),
    }
