"""Runs devctl in-process (Typer's CliRunner) for the unit tests."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from devservers.cli.main import app


def run(*args: str) -> tuple[int, str, str]:
    """devctl ``args`` → (exit code, stdout, stderr)."""
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def state_files(home: Path) -> list[Path]:
    """Every file devctl wrote under the hermetic data dir of the ``home`` fixture."""
    return [p for p in (home / "data").rglob("*") if p.is_file()]
