"""Public names of :mod:`core.releases` (read by lazy_loader and by type checkers)."""

from . import review as review, webhooks as webhooks
from .promotions import STAGES as STAGES, ReleasesAPI as ReleasesAPI
