"""Public names of :mod:`core.evidence` (read by lazy_loader and by type checkers)."""

from .bundle_verify import BundleError as BundleError
from .bundle_verify import verify_bundle as verify_bundle
