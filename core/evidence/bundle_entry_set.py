"""The entry-set commitment: which ledger entries before it a ``report.generated`` entry says its export carries.

The ``report.generated`` payload's ``entry_set`` holds the count, the seqs as ``[first, last]`` runs and the SHA-256
of the ``[seq, leaf hash]`` list of the entries the export carries before that entry; :mod:`core.evidence.report`
writes it with :func:`entry_set_commitment` and the offline verifier (:mod:`core.evidence.bundle_verify`) checks that
the bundle carries exactly those entries, so nobody — the exporter included — can drop or add one unnoticed.
"""

from __future__ import annotations

import json
from typing import Any

# --- inline: core.evidence.bundle_format ---
from core.evidence.bundle_format import ENTRY_SET_FIELD, BundleError, _hex_sha256

# --- end inline ---


def _ranges(seqs: list[int]) -> list[list[int]]:
    """Sorted, distinct seqs as inclusive ``[first, last]`` runs."""
    runs: list[list[int]] = []
    for seq in seqs:
        if runs and seq == runs[-1][1] + 1:
            runs[-1][1] = seq
        else:
            runs.append([seq, seq])
    return runs


def _span(seqs: list[int], limit: int = 12) -> str:
    """``3, 5..9, 12`` — at most ``limit`` runs, then how many more seqs."""
    runs = _ranges(seqs)
    text = ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs[:limit])
    rest = sum(b - a + 1 for a, b in runs[limit:])
    return text + (f" and {rest} more" if rest else "")


def entry_set_commitment(leaves: list[tuple[int, str]]) -> dict[str, Any]:
    """What a ``report.generated`` entry commits to: the ``(seq, leaf hash hex)`` of the entries the export carries
    before it — their count, their seqs as ``[first, last]`` runs, and the SHA-256 of the compact JSON list of
    ``[seq, leaf hash]`` pairs in seq order. :mod:`core.evidence.report` and the verifier both use this function."""
    pairs = sorted(leaves)
    seqs = [seq for seq, _ in pairs]
    if len(set(seqs)) != len(seqs):
        raise ValueError("an entry set holds each seq once")
    listing = json.dumps([[seq, leaf] for seq, leaf in pairs], separators=(",", ":")).encode("utf-8")
    return {"entries": len(pairs), "seqs": _ranges(seqs), "sha256": _hex_sha256(listing)}


def _committed_seqs(committed: Any, report_seq: int) -> set[int]:  # noqa: ANN401
    """The seqs a commitment names, or :class:`BundleError` if it is not a well-formed one."""
    malformed = BundleError(f"entry set: the report entry (seq {report_seq}) carries a malformed {ENTRY_SET_FIELD}")
    if not isinstance(committed, dict) or type(committed.get("entries")) is not int or \
            not isinstance(committed.get("sha256"), str) or not isinstance(committed.get("seqs"), list):
        raise malformed
    seqs: set[int] = set()
    last = -2
    for run in committed["seqs"]:
        if not (isinstance(run, list) and len(run) == 2 and all(type(v) is int for v in run)) or \
                not last + 1 < run[0] <= run[1] < report_seq:  # sorted, disjoint, not adjacent, before the report
            raise malformed
        seqs.update(range(run[0], run[1] + 1))
        last = run[1]
    if len(seqs) != committed["entries"]:
        raise malformed
    return seqs


def _check_entry_set(report_seq: int, by_seq: dict[int, dict[str, Any]],
                     leaves: dict[int, str]) -> dict[str, Any] | None:
    """The entries before the report entry are exactly those it commits to; ``None`` for an export without one."""
    payload = by_seq[report_seq].get("payload") or {}
    if ENTRY_SET_FIELD not in payload:
        return None
    committed = payload[ENTRY_SET_FIELD]
    claimed = _committed_seqs(committed, report_seq)
    carried = {seq for seq in by_seq if seq < report_seq}
    missing, extra = sorted(claimed - carried), sorted(carried - claimed)
    if missing or extra:
        problems = []
        if missing:
            problems.append(f"lacks {len(missing)} of them (seq {_span(missing)})")
        if extra:
            named = ", ".join(f"seq {s} ({by_seq[s].get('action')})" for s in extra[:12])
            problems.append(f"carries {len(extra)} it does not commit to ({named}"
                            f"{f' and {len(extra) - 12} more' if len(extra) > 12 else ''})")
        raise BundleError(f"entry set: the report entry (seq {report_seq}) commits to {committed['entries']} "
                          f"entries before it; the bundle {' and '.join(problems)}")
    actual = entry_set_commitment([(seq, leaves[seq]) for seq in carried])
    if actual["sha256"] != committed["sha256"]:
        raise BundleError(f"entry set: the entries before the report entry (seq {report_seq}) do not match the "
                          f"SHA-256 it commits to ({committed['sha256']})")
    return {"entries": committed["entries"], "sha256": committed["sha256"], "report_seq": report_seq}
