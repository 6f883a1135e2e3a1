"""Public names of :mod:`core.evidence` (read by lazy_loader and by type checkers)."""

from . import (
    attest as attest,
    bundle_attestations as bundle_attestations,
    bundle_dsse as bundle_dsse,
    bundle_entries as bundle_entries,
    bundle_entry_set as bundle_entry_set,
    bundle_format as bundle_format,
    bundle_keys as bundle_keys,
    card_export as card_export,
    regulatory as regulatory,
    render as render,
    report as report,
    report_sections as report_sections,
    standalone as standalone,
)
from .bundle_verify import BundleError as BundleError, verify_bundle as verify_bundle
