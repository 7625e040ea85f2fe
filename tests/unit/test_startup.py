"""devctl starts fast: its help imports neither the engine, the Kubernetes client nor rich."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pulumi", "kubernetes", "rich", "yaml", "grpc")


def test_help_imports_no_heavy_module() -> None:
    code = (
        "import sys\n"
        "from devservers.cli.main import app\n"
        "try:\n"
        "    app(['--help'], prog_name='devctl')\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "Usage: devctl" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "[]"
