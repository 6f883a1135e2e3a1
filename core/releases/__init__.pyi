"""Public names of :mod:`core.releases` (read by lazy_loader and by type checkers)."""

from .promotions import STAGES as STAGES
from .promotions import ReleasesAPI as ReleasesAPI
