"""Public names of :mod:`core.evidence` (read by lazy_loader and by type checkers)."""

from . import attest as attest, card_export as card_export, regulatory as regulatory, render as render, report as report
from .bundle_verify import BundleError as BundleError, verify_bundle as verify_bundle
