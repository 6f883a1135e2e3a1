"""The releases' clock: what "now" is for evaluation age, waiver expiry and history (UTC, timezone-aware).

One function every release rule asks, so a test (or a replay) moves time for all of them at once.
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = ["now", "parse_ts"]


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def parse_ts(text: str) -> datetime:
    """A ledger timestamp (ISO 8601, ``Z`` for UTC) as a datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
