"""Public names of :mod:`core.demo` (read by lazy_loader and by type checkers)."""

from . import data as data, seed as seed
