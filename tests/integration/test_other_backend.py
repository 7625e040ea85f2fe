"""One truth about which servers exist: a server the cluster has but this backend does not.

A server is created with backend A; every command run with backend B (another
``DEVSERVERS_BACKEND_URL``, as in a shell without the usual environment) says
so in the same words, naming A and how to point devctl at it, and changes nothing.
"""

from __future__ import annotations

from pathlib import Path

from kubernetes import client
from test_devctl import devctl
from test_faults import Leftovers, assert_clean

REFUSING = {
    "describe": ("describe", "box"),
    "delete": ("delete", "box", "--yes"),
    "delete --force": ("delete", "box", "--yes", "--force"),
    "delete --ignore-not-found": ("delete", "box", "--yes", "--ignore-not-found"),
    "ssh": ("ssh", "box", "--", "true"),
    "stop": ("stop", "box"),
    "start": ("start", "box"),
    "extend": ("extend", "box", "--by", "1h"),
    "repair": ("repair", "box"),
    "create": ("create", "box", "--no-wait"),
}


def test_every_command_with_another_backend_names_the_backend_holding_the_server(
    devctl_env: dict[str, str],
    leftovers: Leftovers,
    apps: client.AppsV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    assert devctl(devctl_env, "create", "box", "--no-wait").returncode == 0
    uid = apps.read_namespaced_deployment("box", namespace).metadata.uid
    a = devctl_env["DEVSERVERS_BACKEND_URL"]
    (tmp_path / "b").mkdir()
    b = f"file://{tmp_path / 'b'}"
    other = {**devctl_env, "DEVSERVERS_BACKEND_URL": b, "COLUMNS": "1000"}
    words = (
        f"DevServer 'box' exists in namespace {namespace} but not in this state backend ({b}); "
        f"it belongs to {a}: point devctl at it with DEVSERVERS_BACKEND_URL='{a}' "
        "(or backend_url in the config file)"
    )

    listed = devctl(other, "list")
    assert listed.returncode == 0, listed.stderr
    assert f"box: {words}" in listed.stdout, listed.stdout
    said = {}
    for command, args in REFUSING.items():
        done = devctl(other, *args)
        said[command] = (done.returncode, f"error: {words}" in done.stderr, done.stderr)
    assert {c: s[:2] for c, s in said.items()} == dict.fromkeys(REFUSING, (4, True)), said

    assert apps.read_namespaced_deployment("box", namespace).metadata.uid == uid
    assert list((tmp_path / "b").rglob("*.json")) == [], "no stack made in B"
    assert devctl(devctl_env, "delete", "box", "--yes").returncode == 0
    assert_clean(leftovers)
