"""``python -m devservers.cli``: devctl, for ProxyCommands when the script is not on PATH."""

from devservers.cli.main import app

app(prog_name="devctl")
