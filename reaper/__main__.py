"""``python -m devservers.reaper``: see :mod:`devservers.reaper.main`."""

from devservers.reaper.main import app

app(prog_name="python -m devservers.reaper")
