"""Which platform stack owns a namespace, and which backend the pulumi CLI uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from devservers.components.platform_owner import (
    BACKEND,
    STACK,
    PlatformOwner,
    foreign_namespaces,
)
from devservers.stacks.engine.backends import cli_backend

ME = PlatformOwner("organization/devservers-platform/local", "file:///state/a")


def namespace(name: str, owner: PlatformOwner | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if owner:
        meta["annotations"] = owner.annotations()
    return {"metadata": meta}


def test_namespaces_of_another_backend_or_stack_are_foreign() -> None:
    other_backend = PlatformOwner(ME.stack, "file:///state/b")
    other_stack = PlatformOwner("organization/devservers-platform/prod", ME.backend)
    found = [
        namespace("dev-bob", other_stack),
        namespace("devservers-system", other_backend),
        namespace("dev-alice", ME),
        namespace("dev-carol"),  # made before owners were recorded: adopted
        namespace("dev-dave", other_stack),  # not declared by this stack
    ]

    foreign = foreign_namespaces(
        found, ["devservers-system", "dev-alice", "dev-bob", "dev-carol"], ME
    )

    assert foreign == {"dev-bob": other_stack, "devservers-system": other_backend}


def test_an_unknown_backend_on_either_side_compares_by_stack_name() -> None:
    unknown = PlatformOwner(ME.stack)

    assert foreign_namespaces([namespace("n", unknown)], ["n"], ME) == {}
    assert foreign_namespaces([namespace("n", ME)], ["n"], unknown) == {}


def test_owner_annotations_name_the_stack_and_backend() -> None:
    assert ME.annotations() == {STACK: ME.stack, BACKEND: ME.backend}
    assert PlatformOwner(ME.stack).annotations() == {STACK: ME.stack}
    assert ME.describe() == f"{ME.stack} (backend file:///state/a)"


def test_cli_backend_is_pulumi_backend_url_redacted(tmp_path: Path) -> None:
    env = {"PULUMI_BACKEND_URL": "postgres://u:secret@db:5432/state/", "PULUMI_HOME": str(tmp_path)}

    assert cli_backend(env) == "postgres://u:***@db:5432/state"


def test_cli_backend_is_else_the_pulumi_login_one(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"current": "s3://bucket"}))

    assert cli_backend({"PULUMI_HOME": str(tmp_path)}) == "s3://bucket"
    assert cli_backend({"PULUMI_HOME": str(tmp_path / "none")}) is None


def test_a_file_backend_is_named_by_its_resolved_directory(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "state")

    named = cli_backend({"PULUMI_BACKEND_URL": f"file://{tmp_path}/link/"})

    assert named == f"file://{(tmp_path / 'state').resolve()}"
