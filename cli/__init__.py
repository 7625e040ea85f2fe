"""devctl, the command-line interface (Typer).

Contract: thin commands over ``devservers.stacks``; results are rendered on
stdout (table, JSON or YAML), diagnostics and engine progress go to stderr,
and errors become exit codes in :mod:`devservers.cli.errors` only. Never
imports ``devservers.reaper``.
"""
