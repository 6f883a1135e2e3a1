"""Public names of :mod:`core.inputs` (read by lazy_loader and by type checkers)."""

from . import limits as limits, yamlfile as yamlfile
