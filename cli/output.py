"""Rendering results for people (lines, blocks, tables, errors) and machines (JSON).

Every human-readable line the CLI prints goes through this module, and every one of them is passed through
:func:`core.display.text.visible` as a whole: whatever a reason, comment, justification, name, card text or error
message
holds, a newline, carriage return, tab, ANSI escape, bidi override or line separator is printed as a visible escape
(``\\n``, ``\\r``, ``\\x1b``, ``\\u202e``...). So a user's text can never start a new line of output, overwrite one,
colour the terminal or reorder what it shows. Line structure comes only from the code: :func:`say` prints one output
line per argument, :func:`say_block` keeps the line breaks of a text whose lines are the point (a policy file, a
diff, a signed note), :func:`table` escapes every cell before it measures column widths. ``--json`` output
(:func:`emit_json`) is exact JSON, where the JSON encoder already escapes every control and non-ASCII character.

``cli/main.py`` never calls ``click.echo`` itself (a test checks this).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

import click

from core.display.text import visible
from core.display.words import human


def emit_json(value: Any) -> None:  # noqa: ANN401 - any JSON value
    """Print ``value`` as JSON (ASCII only: control and non-ASCII characters are JSON escapes)."""
    click.echo(json.dumps(value, indent=2, sort_keys=False, default=str))


def clean(value: Any) -> str:  # noqa: ANN401 - anything shown as text
    """``str(value)`` as one line of terminal text: control and formatting characters made visible."""
    return visible(value)


def say(*lines: Any, err: bool = False) -> None:  # noqa: ANN401 - anything shown as text
    """Print each argument as exactly one line, whatever characters it holds (see the module docstring)."""
    click.echo("\n".join(clean(line) for line in lines), err=err)


def say_block(text: str, *, err: bool = False, nl: bool = True) -> None:
    """Print a multi-line text keeping its own line breaks (``\\n`` or ``\\r\\n``); within each line every control
    and formatting character (a lone ``\\r``, ESC, a bidi override...) is made visible."""
    ends_with_break = text.endswith("\n")
    body = text[:-1] if ends_with_break else text
    lines = [line.removesuffix("\r") for line in body.split("\n")]
    out = "\n".join(visible(line) for line in lines)
    click.echo(out + ("\n" if ends_with_break and not nl else ""), err=err, nl=nl)


#: Widest a table column is padded to, in characters: a longer cell is printed whole and pushes its row's later
#: cells right, so one very long value (a 5,000-character MLflow name) does not pad every other row to its width.
MAX_COLUMN_WIDTH = 80


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    """Print rows as an aligned text table; every cell is one line (escaped) before widths are measured; columns
    are padded to at most :data:`MAX_COLUMN_WIDTH` characters (longer cells are printed whole)."""
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [min(MAX_COLUMN_WIDTH, max([len(c)] + [len(row[i]) for row in cells])) for i, c in enumerate(columns)]
    say("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip(),
        *("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells))


def _cell(value: Any) -> str:  # noqa: ANN401
    """A table cell in words (:func:`core.display.words.human`): yes/no for booleans, numbers to 4 decimals, lists
    joined with commas, timestamps to the second in UTC, a dash for nothing; never a Python or JSON literal."""
    if value is None:
        return "-"
    return clean(human(value))


def error_lines(exc: BaseException, message: str | None = None) -> list[str]:
    """The lines an error is shown as (escaped later, by :func:`say`). A message is one line (a newline inside it,
    perhaps from a user's value, is shown as ``\\n``) unless the error lists its items itself: ``reasons`` (a refused
    promotion) or ``problems`` (a file with several errors), one line each under the message's first line."""
    text = message if message is not None else (getattr(exc, "message", None) or str(exc))
    for attribute in ("reasons", "problems"):
        items = getattr(exc, attribute, None)
        if isinstance(items, list | tuple) and items and all(isinstance(i, str) for i in items):
            head = text.split("\n", 1)[0]
            if head == items[0]:  # the message is just the items, one a line
                return list(items)
            return [head, *(f"  - {i}" for i in items)]
    return [text]


def error(message: str, exit_code: int, as_json: bool, lines: Sequence[str] | None = None) -> None:
    """Report an error: ``error: ...`` on standard error (``lines``, by default the message as one line, each
    escaped), and with ``--json`` also ``{"error": message, "exit_code": ...}`` on standard output (the exact
    message, JSON-escaped)."""
    if as_json:
        click.echo(json.dumps({"error": message, "exit_code": exit_code}))
    shown = list(lines) if lines else [message]
    say(f"error: {shown[0]}", *shown[1:], err=True)


def usage_error(exc: click.exceptions.UsageError) -> None:
    """Click's usage-error output (usage line, help hint, ``Error: ...``) with the message escaped: it quotes the
    user's own argument values."""
    ctx = exc.ctx
    if ctx is not None:
        hint = ""
        if ctx.command.get_help_option(ctx) is not None:
            hint = f"Try '{ctx.command_path} {ctx.help_option_names[0]}' for help."
        say_block(ctx.get_usage(), err=True)
        if hint:
            say(hint, err=True)
        say("", err=True)
    say(f"Error: {exc.format_message()}", err=True)


def stdin_is_tty() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()
