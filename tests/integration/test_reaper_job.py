"""The reaper as the platform's CronJob, for real: its image on the real node, PostgreSQL state.

``pulumi up`` deploys a platform whose reaper runs every minute from the
project's reaper image, its backend URL and passphrase in a Secret. Alice
creates a server with a one-minute TTL and a claim with ``devctl`` on the
same PostgreSQL backend; within three schedules the CronJob's pod has
destroyed it: its stack is gone, its claim is untouched, and the job's log
is the JSON report naming it.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from conftest import devctl_environment, make_claim
from kubernetes import client
from test_devctl import devctl
from test_platform import Platform, new_stack
from test_postgres import Postgres, running_postgres

REPO = Path(__file__).parents[2]
SCHEDULES = 3


def pod_network() -> str:
    """The real node's pod network (cluster/node.sh chose it): the reaper's pod connects from it."""
    name = os.environ.get("DEVSERVERS_CLUSTER_NAME", "devservers")
    return (REPO / ".cluster" / f"{name}-node" / "network").read_text().split()[1]


def node_ip() -> str:
    """The host's address the real node's pods reach it at (the kubelet's --node-ip)."""
    route = subprocess.run(
        ["ip", "-4", "-o", "route", "get", "1.1.1.1"], capture_output=True, text=True, check=True
    ).stdout.split()
    return route[route.index("src") + 1]


def reaper_image() -> str:
    listed = subprocess.run(
        [REPO / "images" / "build.sh", "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    return next(name for name in listed if "/reaper:" in name)


@dataclass
class Team:
    platform: Platform
    postgres: Postgres
    alice: dict[str, str]
    namespace: str
    claim: str


@pytest.fixture(scope="module")
def team(
    kubeconfig: Path, core: client.CoreV1Api, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Team]:
    host = node_ip()
    port = urlsplit(yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"])
    with (
        running_postgres(("127.0.0.1", host), (f"{host}/32", pod_network())) as postgres,
        new_stack("reaperjob", tmp_path_factory) as platform,
    ):
        database, passphrase = f"t_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
        postgres.sql("postgres", f"CREATE DATABASE {database}")
        alice = platform.user("alice")
        namespace = f"dev-{alice}"
        platform.config["devservers:reaper"] = {
            "enabled": True,
            "image": reaper_image(),
            "schedule": "* * * * *",
            "args": ["--once", "--output", "json", "--namespace", namespace],
            "env_secret": "reaper-backend",
            # No kube-proxy on the local cluster: the pod reaches the API
            # server at the host's address (its certificate names it).
            "env": {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": str(port.port)},
        }
        platform.write(platform.config)
        try:
            up = platform.up()
            assert up.returncode == 0, up.stdout + up.stderr
            core.create_namespaced_secret(
                platform.system,
                client.V1Secret(
                    metadata=client.V1ObjectMeta(name="reaper-backend"),
                    string_data={
                        "DEVSERVERS_BACKEND_URL": postgres.url(database, host),
                        "PULUMI_CONFIG_PASSPHRASE": passphrase,
                    },
                ),
            )
            tmp = tmp_path_factory.mktemp("alice")
            env = devctl_environment(tmp, postgres.url(database), namespace)
            env.update(
                DEVSERVERS_USER=alice,
                DEVSERVERS_PLATFORM_NAMESPACE=platform.system,
                PULUMI_CONFIG_PASSPHRASE=passphrase,
            )
            (tmp / "data").mkdir()
            make_claim(core, namespace, "data", tmp / "data")
            yield Team(platform, postgres, env, namespace, "data")
        finally:
            platform.pulumi("destroy", "--yes", "--skip-preview")
            core.delete_namespace(f"dev-{alice}")


def job_logs(core: client.CoreV1Api, system: str) -> dict[str, str]:
    """Each CronJob pod's state and log, by pod name."""
    found = {}
    runs = core.list_namespaced_pod(system, label_selector="batch.kubernetes.io/job-name")
    for pod in runs.items:
        statuses = pod.status.container_statuses or []
        state = f"{pod.status.phase} {[s.state for s in statuses]}"
        try:
            text = core.read_namespaced_pod_log(pod.metadata.name, system, container="reaper")
        except client.ApiException as exc:
            text = f"(no log: {exc.reason})"
        found[pod.metadata.name] = f"{state}\n{text}"
    return found


def job_reports(core: client.CoreV1Api, system: str) -> list[dict[str, Any]]:
    """The JSON reports in the logs of the CronJob's pods (one line per pass)."""
    return [
        json.loads(line)
        for text in job_logs(core, system).values()
        for line in text.splitlines()
        if line.startswith("{")
    ]


def test_the_cronjob_destroys_an_expired_server_and_keeps_its_claim(
    team: Team, core: client.CoreV1Api, apps: client.AppsV1Api
) -> None:
    created = devctl(team.alice, "create", "box", "--ttl", "1m", "-v", f"{team.claim}:/data")
    assert created.returncode == 0, created.stderr
    deadline = time.monotonic() + 60 + SCHEDULES * 60
    while time.monotonic() < deadline:
        if not apps.list_namespaced_deployment(team.namespace).items:
            break
        time.sleep(5)
    left = apps.list_namespaced_deployment(team.namespace).items
    assert not left, f"not destroyed in time: {job_logs(core, team.platform.system)}"
    listed = devctl(team.alice, "list", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert devctl(team.alice, "describe", "box").returncode == 3, "its stack is gone"
    assert core.read_namespaced_persistent_volume_claim(team.claim, team.namespace)
    reports = job_reports(core, team.platform.system)
    acted = [r for report in reports for r in report["results"]]
    assert any(r["stack"] == f"{team.alice['DEVSERVERS_USER']}.box" and r["state"] == "deleted"
               for r in acted), reports  # fmt: skip
    status = devctl(team.alice, "reaper", "status", "-o", "json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["last_success"] is not None
    passes = sorted(reports, key=lambda r: r["started"])
    print(
        "in-cluster passes (servers seen, acted on, seconds):",
        [(r["servers"], len(r["results"]), r["duration_seconds"]) for r in passes],
    )
