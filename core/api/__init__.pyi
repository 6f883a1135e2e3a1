"""Public names of :mod:`core.api` (read by lazy_loader and by type checkers)."""

from . import inventory as inventory
from .countersign import Countersign as Countersign
