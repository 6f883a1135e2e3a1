"""Public names of :mod:`core.display` (read by lazy_loader and by type checkers)."""

from . import text as text, words as words
