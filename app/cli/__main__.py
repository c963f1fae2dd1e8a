"""`python -m app.cli`: the `workbench` command (how `up` and the tests start subprocesses)."""

from app.cli import app

app()
