"""Every command the product tells a user to run exists, with the options it names.

The texts are read from the source (string literals and f-strings of cli/, stacks/
and reaper/, docstrings left out), so a hint raised on a path no test reaches is
checked too. Each ``devctl …`` in them is resolved against the real Typer app's
command tree; a ``--option`` named without its command must be a global option,
since a hint raised under several commands could not say which one has it.
Placeholders of f-strings read as ``{}``; hints name the real server, so none
says ``NAME``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import typer.main

from devservers.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p for d in ("cli", "stacks", "reaper", "components") for p in (ROOT / d).rglob("*.py")
)
COMMAND = typer.main.get_command(app)
GLOBAL_OPTIONS = {opt for p in COMMAND.params for opt in p.opts + p.secondary_opts}
_DEVCTL = re.compile(r"\bdevctl ([^'\";,()\[\]]*)")
_LONG_OPTION = re.compile(r"(?<![\w-])--[a-z][\w-]*")


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) or "{}" for v in node.values)
    return None


def _docstrings(tree: ast.AST) -> set[int]:
    bodies = [
        n for n in ast.walk(tree) if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef)
    ]
    return {
        id(b.body[0].value)
        for b in bodies
        if b.body and isinstance(b.body[0], ast.Expr) and _text(b.body[0].value) is not None
    }


def _help_texts(tree: ast.AST) -> set[int]:
    """Strings passed as ``help=`` (an option's own help names the option it documents)."""
    return {
        id(k.value)
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        for k in n.keywords
        if k.arg == "help"
    }


def product_texts() -> list[tuple[str, str]]:
    """(where, text) of every user-facing string literal of the product."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _docstrings(tree) | _help_texts(tree)
        parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
        for node in ast.walk(tree):
            text = _text(node)
            if text and id(node) not in skip | parts:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
    return found


def hint_texts() -> list[tuple[str, str]]:
    """(where, text) of every ``hint=`` value and printed ``hint:`` line."""
    found = []
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "hint" and _text(node.value):
                found.append((f"{path.relative_to(ROOT)}:{node.value.lineno}", _text(node.value)))
            text = _text(node) if isinstance(node, ast.expr) else None
            if text and "hint: " in text:
                found.append((f"{path.relative_to(ROOT)}:{node.lineno}", text))
            if isinstance(node, ast.FunctionDef) and "hint" in node.name:  # e.g. failures._hint
                returned = [
                    r.value for r in ast.walk(node) if isinstance(r, ast.Return) and r.value
                ]
                found += [(f"{path.relative_to(ROOT)}:{r.lineno}", _text(r)) for r in returned]
    return [(where, text) for where, text in found if text]


def unknown_options(line: str) -> list[str]:
    """The options of one ``devctl …`` command line that its command does not have."""
    command = COMMAND
    bad = []
    for token in line.split():
        if token == "--":
            break
        if token.startswith("-") and token != "-":
            known = {o for p in command.params for o in p.opts + p.secondary_opts}
            bad += [o for o in token.split("=")[0].split("/") if o not in known | GLOBAL_OPTIONS]
        elif token in getattr(command, "commands", {}):
            command = command.commands[token]
    return bad


def named_commands() -> list[tuple[str, str]]:
    return [(where, m) for where, text in product_texts() for m in _DEVCTL.findall(text)]


def test_the_texts_are_found() -> None:
    lines = [line for _, line in named_commands()]
    assert any(line.startswith("extend {} --by 2h") for line in lines)
    assert len(hint_texts()) >= 20


@pytest.mark.parametrize(("where", "line"), named_commands())
def test_every_devctl_command_named_has_the_options_it_names(where: str, line: str) -> None:
    assert unknown_options(line) == [], f"{where}: devctl {line}"


@pytest.mark.parametrize(("where", "text"), hint_texts())
def test_a_hint_names_options_with_their_command(where: str, text: str) -> None:
    unbound = _LONG_OPTION.findall(_DEVCTL.sub("", text))
    assert [o for o in unbound if o not in GLOBAL_OPTIONS] == [], f"{where}: {text}"


@pytest.mark.parametrize(("where", "text"), hint_texts())
def test_a_hint_names_the_real_server(where: str, text: str) -> None:
    assert not re.search(r"\bNAME\b", text), f"{where}: {text}"


def test_unknown_options_are_caught() -> None:
    assert unknown_options("create {} --allow-replace") == ["--allow-replace"]
    assert unknown_options("repair {} --allow-replace") == []
    assert unknown_options("--context prod list -o json") == []
