"""Input limits: what Countersign refuses before it starts working on a file.

Every file a user hands to Countersign — policies, model cards, datasheets (YAML), OpenLineage event files (JSON
lines) and skops model archives — is checked against these limits before the expensive work starts, so that no small
or large input can cost minutes or gigabytes. A file beyond a limit is refused with :class:`~core.errors.BadInput`
(exit 2) naming the file and, where there is one, the line (or the archive member). ``docs/policies.md`` ("Input
limits") lists them for users.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from core.errors import BadInput

MiB = 1024 * 1024
GiB = 1024 * MiB

# ------------------------------------------------------------------ YAML documents (policies, cards, datasheets)
#: Largest policy, model card or datasheet file, in bytes (checked before the file is read).
MAX_DOCUMENT_BYTES = 1 * MiB
#: Most values (scalars, lists, mappings and mapping keys) one YAML document may hold, counting every expansion of
#: an alias ``*name`` as the full size of the value it refers to (the "billion laughs" bound).
MAX_DOCUMENT_NODES = 20_000
#: Deepest nesting of lists and mappings in a YAML document (alias expansions included).
MAX_DOCUMENT_DEPTH = 32
#: Longest integer literal, in characters: far beyond any stored integer, short enough that converting it (base 10
#: or YAML 1.1's base 60, ``1:30:00``) costs nothing.
MAX_INT_LITERAL_CHARS = 100

# ------------------------------------------------------------------ OpenLineage JSON lines
#: Largest OpenLineage file, in bytes (checked before the file is read).
MAX_OPENLINEAGE_BYTES = 16 * MiB
#: Largest single OpenLineage event (one line), in bytes.
MAX_OPENLINEAGE_EVENT_BYTES = 1 * MiB
#: Most events (non-blank lines) in one OpenLineage file.
MAX_OPENLINEAGE_EVENTS = 100_000
#: Deepest nesting of arrays and objects in one OpenLineage event.
MAX_JSON_DEPTH = 64
#: Most datasets (``inputs`` plus ``outputs``) one OpenLineage event may name.
MAX_OPENLINEAGE_EVENT_DATASETS = 1_000
#: Most dataset references (``inputs`` plus ``outputs``, repeats included) in one OpenLineage file.
MAX_OPENLINEAGE_DATASET_REFS = 20_000
#: Most lineage nodes (distinct jobs, runs and datasets) plus edges (distinct links between them) one OpenLineage file
#: may hold. The import writes each new node and edge in one transaction that holds the database's write lock, at
#: about 2-3 ms a row, so this bounds that lock to well under the default 60 s lock timeout other writers wait.
MAX_OPENLINEAGE_GRAPH = 10_000

# ------------------------------------------------------------------ skops model archives (zip)
#: Largest skops artifact file, and the most its members may declare uncompressed in total, in bytes.
MAX_SKOPS_BYTES = 2 * GiB
#: Largest ``schema.json`` (uncompressed) of a skops artifact: skops parses it whole into Python objects.
MAX_SKOPS_SCHEMA_BYTES = 64 * MiB
#: Most JSON objects in a skops ``schema.json`` (counted as ``{`` characters, before skops reads it): skops builds
#: a Python object of ~600 bytes for each, so a 1.6 MiB schema of 560,000 tiny objects cost 340 MB to load.
#: 200,000 bounds that at ~120 MB and leaves room for real models (a 100,000-word vectoriser vocabulary).
MAX_SKOPS_SCHEMA_NODES = 200_000
#: Most members (files) in a skops archive (skops writes one per array: ~1,500 for a 500-tree gradient boosting model).
MAX_SKOPS_MEMBERS = 100_000
#: Largest zip central directory (the list of members, ~65 bytes a member for skops), read before it is parsed.
MAX_SKOPS_DIRECTORY_BYTES = 8 * MiB
#: Highest compression ratio (uncompressed / compressed size, as declared) of a member larger than
#: :data:`SKOPS_RATIO_CHECKED_ABOVE` bytes uncompressed. skops writes members uncompressed by default (ratio 1);
#: deflate reaches ~30-50 on real models' ``schema.json``, ~1,000 on runs of zeros.
MAX_SKOPS_COMPRESSION_RATIO = 100
SKOPS_RATIO_CHECKED_ABOVE = 1 * MiB

# ------------------------------------------------------------------ MLflow model versions (a folder of files)
#: Most bytes an MLflow model version's folder may hold, over all its files (checked from MLflow's listing, or the
#: local store's own files, before the download; and again on the downloaded copy): a scikit-learn model is at most
#: :data:`MAX_SKOPS_BYTES`, and its ``MLmodel``, environment files and example are small beside it.
MAX_MLFLOW_MODEL_BYTES = 2 * GiB
#: Most files in an MLflow model version's folder (MLflow writes ~6-10; a ``code`` folder adds its modules).
MAX_MLFLOW_MODEL_FILES = 10_000

# ------------------------------------------------------------------ numbers, bounded by where they are stored
#: DuckDB ``INTEGER`` (32-bit signed): ``policies.version``, ``evaluations.policy_version`` and friends.
MAX_STORED_INT = 2**31 - 1
#: The largest integer the ledger's canonical JSON carries exactly (I-JSON, RFC 7493; RFC 8785 refuses larger).
MAX_JSON_INT = 2**53 - 1
#: Longest period in days a policy may name (a century; date arithmetic overflows near 10^9 days).
MAX_DAYS = 36_525


def describe_bytes(size: int) -> str:
    if size >= MiB and size % MiB == 0:
        return f"{size // MiB} MiB"
    if size >= MiB:
        return f"{size / MiB:.1f} MiB"
    return f"{size:,} bytes"


def read_bounded(path: str | Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refusing (before reading it whole) a file larger than ``limit`` bytes.

    The size is checked on the open file (no race with a file growing between a ``stat`` and the read), and at most
    ``limit + 1`` bytes are ever read, so devices and pipes that report no size are bounded too.
    """
    p = Path(path)
    try:
        with p.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if stat.S_ISREG(info.st_mode) and info.st_size > limit:
                raise BadInput(f"{p}: {what} is {describe_bytes(info.st_size)}; the limit is "
                               f"{describe_bytes(limit)}")
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise BadInput(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise BadInput(f"{p}: {what} is larger than the limit of {describe_bytes(limit)}")
    return raw


#: Longest free text a person writes into the ledger (a reason, comment, answer or justification), in characters:
#: a few pages of prose. Every copy of the ledger, every export and every reviewer's screen carries it.
MAX_NOTE_CHARS = 10_000


def require_note(text: str | None, refusal: str, what: str = "the text") -> str:
    """``text`` if it says something and fits :data:`MAX_NOTE_CHARS`; otherwise :class:`BadInput` — ``refusal`` when
    it is missing or blank, the length and the limit when it is too long."""
    if not text or not text.strip():
        raise BadInput(refusal)
    if len(text) > MAX_NOTE_CHARS:
        raise BadInput(f"{what} is {len(text):,} characters long; the limit is {MAX_NOTE_CHARS:,} (link to a "
                       "longer document instead)")
    return text
