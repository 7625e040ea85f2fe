"""Fault suite: SIGKILL at engine events, children deleted by hand, concurrent creates.

Every trial ends the same way: the next devctl command succeeds without any
manual step, and the label sweep of the test namespace finds no orphaned
object and the backend no orphaned stack.

Kill points are engine events read from devctl's own progress on stderr
(``Secret box-host-keys creating`` …) plus a few plain delays that land in
validation and stack set-up. The API server stopped mid-create and mid-delete
is in ``test_outage.py`` (on a second cluster of its own).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kubernetes import client
from test_devctl import devctl

Leftovers = Callable[[], tuple[list[str], list[str]]]

CREATE_POINTS = [
    "delay:0.8",
    "delay:2.5",
    r"Updating \(",
    r"pulumi:Stack devservers-\S+ creating",
    r"providers:kubernetes cluster creating",
    r"Secret {name}-host-keys creating",
    r"Secret {name}-authorized-keys created",
    r"ConfigMap {name}-sshd created",
    r"Deployment {name} creating",
    r"Deployment {name} created",
    r"Service {name}-ssh creating",
    r"Stack devservers-\S+ created",
]
"""Where create is killed: the first stderr line matching each pattern, or after a delay."""

DELETE_POINTS = [
    "delay:0.8",
    "delay:2.5",
    r"Destroying \(",
    r"refresh",
    r"Deployment {name} deleting",
    r"Deployment {name} deleted",
    r"Service {name}-ssh deleting",
    r"Secret {name}-\S+ deleted",
    r"ConfigMap {name}-sshd deleted",
    r"Resources:",
]
"""Where delete is killed."""


def kill_at(
    env: dict[str, str],
    args: list[str],
    point: str,
    sig: signal.Signals = signal.SIGKILL,
    reap: bool = True,
) -> bool:
    """Runs devctl and signals it at ``point``; returns whether it was signalled before exiting.

    SIGKILL goes to devctl alone; SIGINT to its process group, as a terminal's
    Ctrl-C sends it. ``--debug`` asks for the engine's own output, whose events
    the points name. With ``reap``, what the signalled devctl left running is
    ended afterwards; without it, the caller checks that nothing was left.
    """
    with subprocess.Popen(
        ["devctl", "--debug", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    ) as proc:
        killed = False
        try:
            if point.startswith("delay:"):
                time.sleep(float(point.removeprefix("delay:")))
                killed = proc.poll() is None
            else:
                pattern = re.compile(point)
                assert proc.stderr is not None
                for line in proc.stderr:
                    if pattern.search(line):
                        killed = proc.poll() is None
                        break
            if killed and sig == signal.SIGINT:
                os.killpg(proc.pid, sig)
            elif killed:
                proc.send_signal(sig)
            proc.wait(timeout=300)
        finally:
            if reap:
                _reap_group(proc.pid)
                reap_orphaned_plugins(env["XDG_DATA_HOME"])
    return killed


def _reap_group(pgid: int) -> None:
    """Ends what the killed devctl left in its own session (engine and plugins), later."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def reap_orphaned_plugins(data_home: str) -> None:
    """Ends provider plugins orphaned by this test's killed engines (they never exit alone)."""
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parent = (proc / "stat").read_text().rsplit(")", 1)[1].split()[1]
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if (
            parent == "1"
            and b"pulumi-resource-" in command
            and f"XDG_DATA_HOME={data_home}".encode() in environ
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def assert_clean(leftovers: Leftovers) -> None:
    objects, stacks = leftovers()
    assert objects == [], f"orphaned objects: {objects}"
    assert stacks == [], f"orphaned stacks: {stacks}"


TRIALS = [(create, DELETE_POINTS[i % len(DELETE_POINTS)]) for i, create in enumerate(CREATE_POINTS)]
"""One create kill and one delete kill per trial: 12 create points, 10 delete points."""

LANES = ("box", "cub")
"""Server names of trials run side by side (one trial per name at a time)."""


def kill_create_then_delete(
    env: dict[str, str],
    name: str,
    create_at: str,
    delete_at: str,
    sig: signal.Signals = signal.SIGKILL,
    reap: bool = True,
) -> str:
    """One trial: kill create, resume it, kill delete, delete again; each next command succeeds.

    Returns:
        What happened, e.g. ``create killed at …; delete killed at …``.
    """
    create_at, delete_at = create_at.format(name=name), delete_at.format(name=name)
    wait = "--wait" if "Service" in create_at or "Stack" in create_at else "--no-wait"
    create_killed = kill_at(env, ["create", name, wait], create_at, sig, reap)
    again = devctl(env, "create", name, "--no-wait")
    assert again.returncode == 0 or (again.returncode == 4 and "already exists" in again.stderr), (
        again.stderr
    )
    delete_killed = kill_at(env, ["delete", name, "--yes"], delete_at, sig, reap)
    deleted = devctl(env, "delete", name, "--yes")
    assert deleted.returncode in (0, 3), deleted.stderr
    for result in (again, deleted):
        assert "Traceback" not in result.stderr
    return (
        f"create {'killed' if create_killed else 'finished'} at {create_at!r}; "
        f"delete {'killed' if delete_killed else 'finished'} at {delete_at!r}"
    )


@pytest.mark.parametrize("first", range(0, len(TRIALS), len(LANES)))
def test_killed_create_and_delete_then_next_commands_succeed(
    devctl_env: dict[str, str], leftovers: Leftovers, first: int
) -> None:
    batch = list(zip(LANES, TRIALS[first : first + len(LANES)], strict=False))
    with ThreadPoolExecutor(len(batch)) as pool:
        outcomes = list(pool.map(lambda t: kill_create_then_delete(devctl_env, t[0], *t[1]), batch))
    print("\n".join(outcomes))
    assert_clean(leftovers)


def test_killed_create_then_repair_reports_and_converges(
    devctl_env: dict[str, str], leftovers: Leftovers, apps: client.AppsV1Api, namespace: str
) -> None:
    assert kill_at(devctl_env, ["create", "box", "--no-wait"], r"Deployment box creating")
    resumed = devctl(devctl_env, "create", "box", "--no-wait")
    assert resumed.returncode == 0, resumed.stderr
    repaired = devctl(devctl_env, "repair", "box")
    assert repaired.returncode == 0, repaired.stderr
    assert "repaired box" in repaired.stdout
    assert apps.read_namespaced_deployment("box", namespace).spec.replicas == 1
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_a_create_killed_before_its_first_update_ended_keeps_its_host_keys(
    devctl_env: dict[str, str], leftovers: Leftovers, core: client.CoreV1Api, namespace: str
) -> None:
    # Killed once the engine made the objects, before the stack's outputs were written.
    assert kill_at(devctl_env, ["create", "box", "--no-wait"], r"Deployment box created")
    keys = core.read_namespaced_secret("box-host-keys", namespace).data
    resumed = devctl(devctl_env, "create", "box", "--no-wait")
    assert resumed.returncode == 0, resumed.stderr
    assert "replaced" not in resumed.stderr, resumed.stderr
    assert core.read_namespaced_secret("box-host-keys", namespace).data == keys
    assert devctl(devctl_env, "describe", "box").returncode == 0
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_checkpoint_sidecar_left_empty_by_a_killed_engine_is_repaired(
    devctl_env: dict[str, str], backend: str, leftovers: Leftovers
) -> None:
    """fileblob rewrites ``<blob>.attrs`` in place: a kill there leaves it empty ("EOF")."""
    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    stacks = Path(backend.removeprefix("file://")) / ".pulumi" / "stacks" / "devservers"
    (stacks / "alice.box.json.attrs").write_text("")
    described = devctl(devctl_env, "describe", "box", "-o", "json")
    assert described.returncode == 0, described.stderr
    deleted = devctl(devctl_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert_clean(leftovers)


def test_create_over_a_server_whose_deployment_is_gone_re_converges_it(
    devctl_env: dict[str, str], leftovers: Leftovers, apps: client.AppsV1Api, namespace: str
) -> None:
    """What a delete killed mid-destroy leaves, or a Deployment deleted by hand."""
    first = devctl(devctl_env, "create", "box", "-o", "json")
    assert first.returncode == 0, first.stderr
    apps.delete_namespaced_deployment("box", namespace)
    assert devctl(devctl_env, "describe", "box").returncode == 3
    again = devctl(devctl_env, "create", "box", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["server"]["status"] == "Running"
    assert (
        json.loads(again.stdout)["host_public_keys"] == json.loads(first.stdout)["host_public_keys"]
    )
    assert devctl(devctl_env, "create", "box").returncode == 4, "now it exists"
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_create_over_a_server_with_a_claim_whose_deployment_is_gone_re_converges_it(
    devctl_env: dict[str, str],
    leftovers: Leftovers,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
    claim: str,
) -> None:
    """The README's promise holds for a server with a claim: the claim is the same object."""
    uid = core.read_namespaced_persistent_volume_claim(claim, namespace).metadata.uid
    first = devctl(devctl_env, "create", "box", "-v", f"{claim}:/data", "-o", "json")
    assert first.returncode == 0, first.stderr
    apps.delete_namespaced_deployment("box", namespace)
    stopped = devctl(devctl_env, "stop", "box")
    assert stopped.returncode == 5 and "'devctl repair box' puts it back" in stopped.stderr
    again = devctl(devctl_env, "create", "box", "-v", f"{claim}:/data", "-o", "json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["server"]["status"] == "Running"
    assert core.read_namespaced_persistent_volume_claim(claim, namespace).metadata.uid == uid
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert core.read_namespaced_persistent_volume_claim(claim, namespace).metadata.uid == uid
    assert_clean(leftovers)


def test_children_deleted_by_hand_then_delete_succeeds(
    devctl_env: dict[str, str],
    leftovers: Leftovers,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    apps.delete_namespaced_deployment("box", namespace)
    core.delete_namespaced_service("box-ssh", namespace)
    core.delete_namespaced_secret("box-host-keys", namespace)
    deleted = devctl(devctl_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert_clean(leftovers)


def test_drift_is_repaired(
    devctl_env: dict[str, str],
    leftovers: Leftovers,
    core: client.CoreV1Api,
    apps: client.AppsV1Api,
    namespace: str,
) -> None:
    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    apps.patch_namespaced_deployment(
        "box",
        namespace,
        {"spec": {"replicas": 0}, "metadata": {"labels": {"devservers.dev/flavor": "x"}}},
    )
    core.delete_namespaced_secret("box-authorized-keys", namespace)
    core.delete_namespaced_service("box-ssh", namespace)
    repaired = devctl(devctl_env, "repair", "box", "-o", "json")
    assert repaired.returncode == 0, repaired.stderr
    deployment = apps.read_namespaced_deployment("box", namespace)
    assert deployment.spec.replicas == 1
    assert deployment.metadata.labels["devservers.dev/flavor"] == "cpu-small"
    assert core.read_namespaced_secret("box-authorized-keys", namespace).data
    assert core.read_namespaced_service("box-ssh", namespace).spec.type == "ClusterIP"
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_whole_namespace_deleted_then_delete_succeeds(
    devctl_env: dict[str, str], core: client.CoreV1Api, leftovers: Leftovers
) -> None:
    other = f"{devctl_env['DEVSERVERS_NAMESPACE']}-gone"
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=other)))
    env = {**devctl_env, "DEVSERVERS_NAMESPACE": other}
    assert devctl(env, "create", "box", "--no-wait").returncode == 0
    core.delete_namespace(other)
    deleted = devctl(env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert leftovers()[1] == []


def test_same_name_twice_at_once_exactly_one_wins(
    devctl_env: dict[str, str], leftovers: Leftovers
) -> None:
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: devctl(devctl_env, "create", "box", "--no-wait"), [0, 1]))
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 4], [r.stderr for r in results]
    loser = next(r for r in results if r.returncode == 4)
    assert "Traceback" not in loser.stderr
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_different_names_in_parallel_all_succeed(
    devctl_env: dict[str, str], leftovers: Leftovers
) -> None:
    names = ["one", "two", "three"]
    with ThreadPoolExecutor(len(names)) as pool:
        created = list(pool.map(lambda n: devctl(devctl_env, "create", n, "--no-wait"), names))
    assert [r.returncode for r in created] == [0, 0, 0], [r.stderr for r in created]
    listed = devctl(devctl_env, "list", "-o", "json")
    assert sorted(s["name"] for s in json.loads(listed.stdout)) == sorted(names)
    with ThreadPoolExecutor(len(names)) as pool:
        deleted = list(pool.map(lambda n: devctl(devctl_env, "delete", n, "--yes"), names))
    assert [r.returncode for r in deleted] == [0, 0, 0], [r.stderr for r in deleted]
    assert_clean(leftovers)


def test_force_delete_sweeps_objects_whose_stack_is_gone(
    devctl_env: dict[str, str],
    leftovers: Leftovers,
    claim: str,
    core: client.CoreV1Api,
    namespace: str,
) -> None:
    assert devctl(devctl_env, "create", "box", "--no-wait", "-v", f"{claim}:/data").returncode == 0
    for path in Path(devctl_env["DEVSERVERS_BACKEND_URL"].removeprefix("file://")).rglob(
        "alice.box.json*"
    ):
        path.unlink()
    plain = devctl(devctl_env, "delete", "box", "--yes")
    assert plain.returncode == 3, plain.stderr
    forced = devctl(devctl_env, "delete", "box", "--yes", "--force")
    assert forced.returncode == 0, forced.stderr
    assert "swept: Deployment/box" in forced.stdout
    assert_clean(leftovers)
    kept = core.read_namespaced_persistent_volume_claim(claim, namespace)
    assert kept.metadata.deletion_timestamp is None


# --- names and state that are not this server's --------------------------------------


def test_create_refuses_to_take_over_objects_it_did_not_create(
    devctl_env: dict[str, str], leftovers: Leftovers, core: client.CoreV1Api, namespace: str
) -> None:
    mine = client.V1ConfigMap(
        metadata=client.V1ObjectMeta(name="box-sshd"), data={"precious": "mydata"}
    )
    core.create_namespaced_config_map(namespace, mine)
    created = devctl(devctl_env, "create", "box", "--no-wait")
    assert created.returncode == 4, created.stderr
    assert "ConfigMap/box-sshd" in created.stderr
    assert core.read_namespaced_config_map("box-sshd", namespace).data == {"precious": "mydata"}
    assert_clean(leftovers)


def test_create_from_another_backend_refuses_a_server_that_exists(
    devctl_env: dict[str, str],
    leftovers: Leftovers,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    host_keys = core.read_namespaced_secret("box-host-keys", namespace).data
    (tmp_path / "elsewhere").mkdir()
    elsewhere = {**devctl_env, "DEVSERVERS_BACKEND_URL": f"file://{tmp_path / 'elsewhere'}"}
    again = devctl(elsewhere, "create", "box", "--no-wait")
    assert again.returncode == 4, again.stderr
    assert "not in this state backend" in again.stderr
    assert list((tmp_path / "elsewhere").rglob("*.json")) == [], "no stack left there"
    assert core.read_namespaced_secret("box-host-keys", namespace).data == host_keys
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_a_lock_left_by_a_delete_killed_while_removing_the_stack_is_cleared(
    devctl_env: dict[str, str], backend: str, leftovers: Leftovers
) -> None:
    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    # What `stack rm` leaves when killed before its unlock: the lock of a dead engine.
    dead = subprocess.Popen(["true"])
    dead.wait()
    locks = (
        Path(backend.removeprefix("file://")) / ".pulumi/locks/organization/devservers/alice.box"
    )
    locks.mkdir(parents=True, exist_ok=True)
    (locks / "2f9c.json").write_text(
        json.dumps(
            {
                "pid": dead.pid,
                "username": "alice",
                "hostname": socket.gethostname(),
                "timestamp": datetime.now(UTC).isoformat(),
            }
        )
    )
    created = devctl(devctl_env, "create", "box", "--no-wait")
    assert created.returncode == 0, created.stderr
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)


def test_a_stack_destroyed_but_not_removed_is_created_again(
    devctl_env: dict[str, str], backend: str, leftovers: Leftovers, namespace: str
) -> None:
    """What a reaper killed between its destroy and the stack's removal leaves."""
    from devservers.stacks import load_settings
    from devservers.stacks.engine import workspace

    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    settings = load_settings(
        Path("/nonexistent"), backend_url=backend, user="alice", namespace=namespace
    )
    workspace.select_stack(settings, "alice.box").destroy(color="never")
    created = devctl(devctl_env, "create", "box", "-o", "json")
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["server"]["status"] == "Running"
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)
