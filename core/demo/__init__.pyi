"""Public names of :mod:`core.demo` (read by lazy_loader and by type checkers)."""

