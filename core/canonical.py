"""Canonical JSON bytes per RFC 8785 (JSON Canonicalization Scheme), via the ``rfc8785`` package.

Every hash and signature in Countersign is computed over these bytes, never over ``json.dumps`` output whose key
order or float formatting could drift between versions.
"""

from __future__ import annotations

from typing import Any

import rfc8785


def canonical_bytes(value: Any) -> bytes:  # noqa: ANN401 - any JSON value
    """Return the RFC 8785 canonical UTF-8 serialization of a JSON-compatible value."""
    return rfc8785.dumps(value)
