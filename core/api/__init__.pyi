"""Public names of :mod:`core.api` (read by lazy_loader and by type checkers)."""

from .countersign import Countersign as Countersign
