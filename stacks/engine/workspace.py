"""Workspace set-up in one place: backend, passphrase, engine environment.

Every DevServer is a stack of the ``devservers`` project. Stacks are driven
through the Automation API with inline programs, each in its own temporary
workspace directory, so concurrent operations never share a workspace file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cache
from pathlib import Path

from pulumi import automation as auto

from devservers.stacks.base.settings import PROJECT, Settings
from devservers.stacks.engine import backends, guard
from devservers.stacks.engine.checkpoints import (
    forget_kept_checkpoint,
    keep_checkpoint,
    restore_unreadable_checkpoint,
)
from devservers.stacks.engine.command import known_pulumi
from devservers.stacks.engine.locks import clear_stale_engine_locks, remove_stack_dirs
from devservers.stacks.engine.streamed import StreamedStack

ENGINE_ENV = {
    "PULUMI_SKIP_UPDATE_CHECK": "true",
    "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
}
"""The engine never downloads anything at run time: a missing plugin fails fast."""


def passphrase_env(settings: Settings) -> dict[str, str]:
    """Secrets-provider environment; see :func:`devservers.stacks.engine.backends.secrets_env`."""
    return backends.secrets_env(settings)


@cache
def pulumi_command(state_dir: Path) -> auto.PulumiCommand:
    """The ``pulumi`` on PATH, its version checked once per binary (see :mod:`.command`)."""
    return known_pulumi(state_dir)


def workspace_options(settings: Settings) -> auto.LocalWorkspaceOptions:
    """Options shared by every stack operation: project, backend and environment.

    The environment marks the engine's processes for :mod:`.guard`, which ends
    them when this process ends, and names the backend again: the Pulumi CLI
    prefers ``PULUMI_BACKEND_URL`` to the project's, and an admin's shell may
    export it for the platform stack.
    """
    backends.prepare(settings)
    return auto.LocalWorkspaceOptions(
        pulumi_command=pulumi_command(settings.state_dir),
        project_settings=auto.ProjectSettings(
            name=PROJECT, runtime="python", backend=auto.ProjectBackend(url=settings.backend)
        ),
        env_vars={
            **ENGINE_ENV,
            "PULUMI_BACKEND_URL": settings.backend,
            **passphrase_env(settings),
            **guard.engine_env(),
        },
        secrets_provider=settings.secrets_provider,
    )


def create_stack(
    settings: Settings, stack: str, program: Callable[[], None] | None = None
) -> auto.Stack:
    """Creates a new stack (one CLI run); raises Pulumi's ``StackAlreadyExistsError`` if it exists.

    Without ``program``, each operation passes its own.

    A lock a dead process left (e.g. one killed while removing the stack) is
    cleared first; a live holder raises :class:`~devservers.stacks.base.errors.Conflict`.
    """
    restore_unreadable_checkpoint(settings, PROJECT, stack)
    clear_stale_engine_locks(settings, PROJECT, stack, settings.operation_timeout_seconds)
    ws = _workspace(settings, program or _no_program)
    ws.create_stack(stack)
    keep_checkpoint(settings, PROJECT, stack)
    return StreamedStack(stack, ws)


def select_stack(
    settings: Settings, stack: str, program: Callable[[], None] | None = None
) -> auto.Stack:
    """Opens an existing stack without a CLI run (see :mod:`.streamed`).

    A missing stack raises Pulumi's ``StackNotFoundError`` at the first engine
    command on it (e.g. :func:`~devservers.stacks.engine.programs.read_checkpoint`).
    """
    restore_unreadable_checkpoint(settings, PROJECT, stack)
    keep_checkpoint(settings, PROJECT, stack)
    return StreamedStack(stack, _workspace(settings, program or _no_program))


def _workspace(settings: Settings, program: Callable[[], None]) -> auto.LocalWorkspace:
    """A workspace of its own (temporary directory) for one stack's inline ``program``."""
    options = workspace_options(settings)
    options.program = program
    if options.project_settings is not None and options.project_settings.main is None:
        options.project_settings.main = os.getcwd()  # as auto.create_stack/select_stack do
    return auto.LocalWorkspace(**options.__dict__)


def remove_stack(settings: Settings, stack: auto.Stack, force: bool = False) -> None:
    """Removes ``stack`` from the backend with everything the engine kept of it.

    ``pulumi stack rm`` alone keeps a backup of the checkpoint
    (``.pulumi/stacks/<project>/<stack>.json.bak``) and the stack's empty lock
    directory (``.pulumi/locks/<org>/<project>/<stack>/``), forever: with
    ``--remove-backups`` the engine also deletes the backups
    (``.pulumi/backups/<project>/<stack>/``) as well as the history
    (``.pulumi/history/<project>/<stack>/``), and their directories are removed
    here once empty (a lock file is never touched).

    Raises:
        auto.CommandError: The engine failed (e.g. the stack still has resources
            and ``force`` is false).
    """
    ws = stack.workspace
    args = ["stack", "rm", "--yes", "--remove-backups", *["--force"] * force, stack.name]
    ws.pulumi_command.run(args, ws.work_dir, ws.env_vars)
    forget_kept_checkpoint(settings, PROJECT, stack.name)
    remove_stack_dirs(settings, PROJECT, stack.name)


def _no_program() -> None:
    raise RuntimeError("this stack operation needs no program")
