"""Assertions on `workbench` output that hold at any terminal width and any path length.

rich wraps what the CLI prints at the console width: the terminal's, `$COLUMNS`, or 80 columns
when stdout is not a terminal (`CliRunner`, a pipe). A long tmp path (a CI checkout deep in a
build folder, a long user name) pushes the words of a message onto the next line
("300\\nmatch logged predictions"), and a word longer than the width, such as a path, is cut
in the middle. So:

- compare a message with `flat` (every run of whitespace, line breaks included, as one space);
- compare text that holds a path with `squeezed` (no whitespace at all), or name only the file;
- read a table only at a width the test fixes (`wide_console` in process, `wide_env` for a
  subprocess): rich shrinks a table to the width, wrapping cells and cutting words ("drift_c…").
  `CliRunner.invoke(env={"COLUMNS": ...})` is not enough: a console made while `COLUMNS` is
  set (exported by a shell or a CI runner) keeps that width for good.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

WIDE = 400  # columns: no table of the CLI needs more


def flat(text: str) -> str:
    """`text` with every run of whitespace (a line break rich inserted too) as one space."""
    return " ".join(text.split())


def squeezed(text: str) -> str:
    """`text` without whitespace: also undoes a break rich put inside a long path."""
    return "".join(text.split())


def wide_env(env: Mapping[str, str]) -> dict[str, str]:
    """`env` for a `workbench` subprocess whose tables the test reads: `WIDE` columns."""
    return {**env, "COLUMNS": str(WIDE)}


@contextlib.contextmanager
def wide_console(columns: int = WIDE) -> Iterator[None]:
    """Render the CLI's consoles (`app.cli.common` `out`, `err`) at `columns` columns here."""
    from app.cli.common import err, out

    consoles = (out, err)
    before = [console._width for console in consoles]  # None: follow $COLUMNS or the terminal
    for console in consoles:
        console.width = columns
    try:
        yield
    finally:
        for console, width in zip(consoles, before, strict=True):
            console._width = width
