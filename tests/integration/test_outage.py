"""The control plane stopped, frozen or killed under devctl, and started again.

Runs on a second local cluster of its own, so that stopping its API server
disturbs nothing else. Each outage trial SIGKILLs ``kube-apiserver`` when devctl
reports an engine event, starts it again a few seconds later with
``kwokctl start cluster`` (which starts only what is not running), and then
checks that the interrupted command ended cleanly, that the next command
succeeds and that nothing is left behind. Other trials freeze a component
(SIGSTOP: it accepts connections and never answers) or kill one, which the
local cluster's supervisor starts again.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import hermetic_catalog
from kubernetes import client, config
from test_devctl import devctl
from test_waits import timed

from devservers.stacks.kube.cluster import REQUEST_TIMEOUT_SECONDS

REPO = Path(__file__).resolve().parents[2]
NAME = "devservers-outage"
"""The second cluster's name (a stale one from a killed run is recovered by ``cluster/up.sh``)."""

Leftovers = Callable[[], tuple[list[str], list[str]]]

DOWN_SECONDS = 4
"""How long the API server stays down in a trial."""

GC_LAG_SECONDS = 120
"""Bound on the garbage collector's lag after a restart (seen: up to a minute)."""


@dataclass(frozen=True)
class Outage:
    """The second cluster: its kubeconfig, its API clients and how to stop its API server."""

    kubeconfig: str
    core: client.CoreV1Api
    apps: client.AppsV1Api
    env: dict[str, str]

    def pid(self, component: str) -> int:
        """The process id kwokctl recorded for a component (``kube-apiserver``)."""
        pids = Path(self.env["KWOK_WORKDIR"]) / "clusters" / NAME / "pids"
        return int((pids / f"{component}.pid").read_text())

    def stop_api_server(self) -> None:
        os.kill(self.pid("kube-apiserver"), signal.SIGKILL)

    def start_api_server(self) -> None:
        lock = (
            Path(self.env["KWOK_WORKDIR"]) / "clusters" / NAME / "start.lock"
        )  # as the supervisor
        start = ["flock", "-o", lock, "kwokctl", "start", "cluster", "--name", NAME]
        subprocess.run(start, env=self.env, check=True)
        subprocess.run(
            ["kubectl", "wait", "--for=condition=Ready", "--timeout=60s", "node", "--all"],
            env={**self.env, "KUBECONFIG": self.kubeconfig},
            check=True,
            capture_output=True,
        )


@pytest.fixture(scope="module")
def outage(kubeconfig: Path) -> Iterator[Outage]:
    # Fake nodes only: the machine's one real node belongs to the main cluster, and
    # these trials create servers without waiting for them.
    env = {**os.environ, "DEVSERVERS_CLUSTER_NAME": NAME, "DEVSERVERS_REAL_NODE": "0"}
    subprocess.run([REPO / "cluster" / "up.sh"], env=env, check=True, capture_output=True)
    exports = subprocess.run(
        ["bash", "-c", f'eval "$({REPO}/toolchain/env.sh)" && echo "$KUBECONFIG"'],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    path = exports.stdout.strip()
    assert path != str(kubeconfig), "the outage cluster must not reuse the main kubeconfig"
    api = config.new_client_from_config(config_file=path)
    yield Outage(path, client.CoreV1Api(api), client.AppsV1Api(api), env)
    subprocess.run([REPO / "cluster" / "down.sh"], env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def core(outage: Outage) -> client.CoreV1Api:
    """The outage cluster's API (overrides the main cluster's for this module's fixtures)."""
    return outage.core


@pytest.fixture(scope="module")
def apps(outage: Outage) -> client.AppsV1Api:
    return outage.apps


@pytest.fixture
def outage_env(devctl_env: dict[str, str], outage: Outage) -> dict[str, str]:
    """devctl's environment (its namespace is on the outage cluster), pointed at that cluster."""
    return {**devctl_env, "KUBECONFIG": outage.kubeconfig}


def run_through_outage(env: dict[str, str], args: list[str], point: str, outage: Outage) -> str:
    """Runs devctl, stops the API server at ``point`` and starts it again; returns stderr.

    ``--debug`` asks for the engine's own output, whose events the points name
    (and adds the details of a handled error): the command must end with a
    documented exit code, never 1 (an unexpected error).
    """
    with subprocess.Popen(
        ["devctl", "--debug", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if re.search(point, line):
                outage.stop_api_server()
                break
        else:
            pytest.fail(f"devctl ended before {point!r}: {''.join(seen)}")
        time.sleep(DOWN_SECONDS)
        outage.start_api_server()
        seen.extend(proc.stderr)
        code = proc.wait(timeout=300)
    stderr = "".join(seen)
    assert code in (0, 3, 4, 5), stderr  # a documented exit code, not 1 (unexpected)
    return stderr


def settled(leftovers: Leftovers) -> tuple[list[str], list[str]]:
    """The leftovers once Kubernetes' garbage collector caught up (it lags after a restart)."""
    deadline = time.monotonic() + GC_LAG_SECONDS
    while (left := leftovers()) != ([], []) and time.monotonic() < deadline:
        time.sleep(2)
    return left


@pytest.mark.parametrize("point", [r"Secret box-host-keys creating", r"Deployment box creating"])
def test_api_server_stopped_mid_create_then_next_commands_succeed(
    outage_env: dict[str, str], outage: Outage, leftovers: Leftovers, point: str
) -> None:
    run_through_outage(outage_env, ["create", "box", "--no-wait"], point, outage)
    again = devctl(outage_env, "create", "box", "--no-wait")
    assert again.returncode == 0 or (again.returncode == 4 and "already exists" in again.stderr), (
        again.stderr
    )
    listed = devctl(outage_env, "list", "-o", "json")
    assert listed.returncode == 0 and '"box"' in listed.stdout, listed.stderr
    deleted = devctl(outage_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert settled(leftovers) == ([], [])


def test_api_server_stopped_mid_delete_then_delete_succeeds(
    outage_env: dict[str, str], outage: Outage, leftovers: Leftovers
) -> None:
    assert devctl(outage_env, "create", "box", "--no-wait").returncode == 0
    run_through_outage(outage_env, ["delete", "box", "--yes"], r"Deployment box deleting", outage)
    deleted = devctl(outage_env, "delete", "box", "--yes")
    assert deleted.returncode in (0, 3), deleted.stderr
    assert settled(leftovers) == ([], [])


@pytest.fixture
def kwok_env(
    outage_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    """devctl's environment with the cpu flavors on kwok's fake nodes, this cluster's only nodes."""
    monkeypatch.setenv("DEVSERVERS_REAL_NODE", "0")
    flavors = hermetic_catalog(tmp_path / "kwok-flavors.yaml")
    return {**outage_env, "DEVSERVERS_FLAVORS_FILE": str(flavors)}


def test_a_frozen_api_server_fails_a_command_within_the_bound_its_message_names(
    outage_env: dict[str, str], outage: Outage
) -> None:
    api_server = outage.pid("kube-apiserver")
    os.kill(api_server, signal.SIGSTOP)  # it accepts connections and never answers
    try:
        listed, _ = timed(outage_env, "list")
    finally:
        os.kill(api_server, signal.SIGCONT)
    assert listed.returncode == 5, listed.stderr
    assert f"did not answer within {REQUEST_TIMEOUT_SECONDS} s" in listed.stderr


def running(outage: Outage, component: str, other_than: int | None = None) -> int:
    """The process id of ``component`` once it runs (other than ``other_than``; at most 60 s).

    A component that exited (a controller-manager that lost its leader lease
    while the API server was frozen) runs again once the supervisor started it.
    """
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pid = outage.pid(component)
        if pid != other_than and Path(f"/proc/{pid}").exists():
            return pid
        time.sleep(0.5)
    pytest.fail(f"{component} is not running (and was not started again)")


def test_a_killed_controller_manager_is_started_again_and_servers_become_ready(
    kwok_env: dict[str, str], outage: Outage, leftovers: Leftovers
) -> None:
    before = running(outage, "kube-controller-manager")
    os.kill(before, signal.SIGKILL)
    running(outage, "kube-controller-manager", other_than=before)
    created = devctl(kwok_env, "create", "box", "-o", "json")
    assert created.returncode == 0, created.stderr
    assert '"status": "Running"' in created.stdout
    assert devctl(kwok_env, "delete", "box", "--yes").returncode == 0
    assert settled(leftovers) == ([], [])


def test_a_wait_while_no_controller_acts_names_it(
    kwok_env: dict[str, str], outage: Outage, leftovers: Leftovers
) -> None:
    manager = running(outage, "kube-controller-manager")
    os.kill(manager, signal.SIGSTOP)  # alive, so not restarted, and acting on nothing
    try:
        created, _ = timed(kwok_env, "create", "box")
    finally:
        os.kill(manager, signal.SIGCONT)
    assert created.returncode == 5, created.stderr
    assert (
        "cannot become Ready: NoControllerActed: Deployment box: no controller acted on it"
        in created.stderr
    )
    assert "kube-controller-manager" in created.stderr
    deleted = devctl(kwok_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert settled(leftovers) == ([], [])
