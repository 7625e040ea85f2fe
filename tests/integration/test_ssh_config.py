"""devctl ssh-config on the real engine and cluster: entries keyed per user and context.

No process runs in the pod and no connection is made (``test_ssh.py`` does
that on the real node): these check what devctl writes and forgets.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import yaml
from test_devctl import devctl


def hosts(env: dict[str, str]) -> list[str]:
    config = Path(env["XDG_DATA_HOME"]) / "devservers" / "ssh" / "config"
    return re.findall(r"^Host (.+)$", config.read_text(), re.MULTILINE)


def pinned(env: dict[str, str]) -> list[str]:
    known = Path(env["XDG_DATA_HOME"]) / "devservers" / "ssh" / "known_hosts"
    return sorted({line.split()[0] for line in known.read_text().splitlines()})


def lock_files(env: dict[str, str]) -> list[str]:
    root = Path(env["XDG_DATA_HOME"]) / "devservers" / "locks"
    return sorted(p.name for p in root.rglob("*.lock"))


def another_context(env: dict[str, str], tmp_path: Path) -> Path:
    """A copy of the kubeconfig whose only context, ``other``, reaches the same cluster."""
    config = yaml.safe_load(Path(os.environ["KUBECONFIG"]).read_text())
    for context in config["contexts"]:
        context["name"] = "other"
    config["current-context"] = "other"
    path = tmp_path / "other.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def test_entries_are_keyed_per_context_and_forgotten_with_the_server(
    devctl_env: dict[str, str], tmp_path: Path
) -> None:
    assert devctl(devctl_env, "create", "box", "--ttl", "1h").returncode == 0
    written = devctl(devctl_env, "ssh-config", "--no-install", "-o", "json")
    assert written.returncode == 0, written.stderr
    setup = json.loads(written.stdout)
    full = f"devserver-box.alice.{setup['cluster']}"
    assert setup["hosts"] == ["devserver-box"]
    assert hosts(devctl_env) == [f"{full} devserver-box"]
    told = " ".join(written.stderr.split())
    assert f"devserver-NAME.alice.{setup['cluster']}, and devserver-NAME" in told
    assert pinned(devctl_env) == [full]
    assert lock_files(devctl_env) == ["alice.box.lock"]

    other = ["--kubeconfig", str(another_context(devctl_env, tmp_path))]
    again = devctl(devctl_env, *other, "ssh-config", "--no-install", "-o", "json")
    assert again.returncode == 0, again.stderr
    other_full = json.loads(again.stdout)["hosts"][0]
    assert other_full.startswith("devserver-box.alice.other-") and other_full != full
    assert hosts(devctl_env) == [f"{full} devserver-box", other_full]

    deleted = devctl(devctl_env, "delete", "box", "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert hosts(devctl_env) == [other_full], "delete forgets its context's entry only"
    assert pinned(devctl_env) == [other_full]
    assert lock_files(devctl_env) == [], "and its lock file"

    cleared = devctl(devctl_env, *other, "ssh-config", "--clear", "-o", "json")
    assert cleared.returncode == 0, cleared.stderr
    assert json.loads(cleared.stdout)["removed"] == 1
    assert hosts(devctl_env) == [] and pinned(devctl_env) == []
