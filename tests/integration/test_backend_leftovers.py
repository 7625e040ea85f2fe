"""Deleting a DevServer leaves nothing of its stack in the file backend (real engine and cluster).

Pulumi's file backend keeps, per stack, ``.pulumi/stacks/<project>/<stack>.json``
(with ``.json.bak`` and ``.attrs`` sidecars), ``.pulumi/history/<project>/<stack>/``,
``.pulumi/backups/<project>/<stack>/`` and ``.pulumi/locks/<org>/<project>/<stack>/``;
a plain ``pulumi stack rm`` keeps the backup checkpoint and the lock directory.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

CYCLES = int(os.environ.get("DEVSERVERS_BACKEND_CYCLES", "3"))
"""Create/delete cycles (the issue's measurement ran 100: DEVSERVERS_BACKEND_CYCLES=100)."""


def devctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["devctl", *args], env=env, capture_output=True, text=True, timeout=600, check=False
    )


def left_of(backend: str, stack: str) -> list[str]:
    """Paths under the backend's ``.pulumi`` that belong to ``stack``."""
    root = Path(backend.removeprefix("file://")) / ".pulumi"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if stack in p.name)


def test_create_delete_cycles_leave_nothing_of_the_stacks(
    devctl_env: dict[str, str], backend: str
) -> None:
    for cycle in range(CYCLES):
        name = f"cycle{cycle % 2}"  # a name used again, and another
        created = devctl(devctl_env, "-q", "create", name, "--no-wait", "-o", "json")
        assert created.returncode == 0, created.stderr
        deleted = devctl(devctl_env, "-q", "delete", name, "--yes")
        assert deleted.returncode == 0, deleted.stderr

    files = [p for p in Path(backend.removeprefix("file://")).rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    print(f"backend after {CYCLES} cycles: {size} bytes in {len(files)} files")
    assert left_of(backend, "alice.cycle") == []
