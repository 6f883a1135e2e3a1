"""Public names of :mod:`core.inputs` (read by lazy_loader and by type checkers)."""

