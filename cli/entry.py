"""The ``countersign`` command's entry point: Ctrl-C is an interrupt from the first moment.

Importing the command (:mod:`cli.main`, which imports core and its libraries) takes about a second; an interrupt in
that time would otherwise end in a traceback, before :func:`cli.main.main` can handle it.
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    """Import and run :func:`cli.main.main`; an interrupt while importing exits 130 quietly."""
    try:
        from cli.main import main as run
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)
    run()
