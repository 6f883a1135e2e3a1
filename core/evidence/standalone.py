"""The stand-alone ``verify.py`` shipped inside every export: the offline verifier as one self-contained file.

:mod:`core.evidence.bundle_verify` and the modules it runs, with :mod:`core.tlog.merkle` and
:mod:`core.tlog.signed_note`, concatenated in dependency order into a script that needs only Python 3.11+ and the
``cryptography`` package. Each module marks its imports of Countersign modules with ``# --- inline: ... ---`` and
``# --- end inline ---``; those blocks are dropped (the names they import are defined earlier in the same file), as
are each inlined module's docstring, ``from __future__`` line and ``__all__``. The result starts with
:mod:`core.evidence.bundle_verify`'s docstring and ends with its ``main``.

Only the standard library is imported here, so :mod:`core.evidence.bundle_verify` can build the very ``verify.py``
this installation writes, to compare a bundled one with it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

#: The modules of ``verify.py``, in the order they are inlined: each uses only names defined above it.
VERIFIER_MODULES = (
    "core.tlog.merkle",
    "core.tlog.signed_note",
    "core.evidence.bundle_format",
    "core.evidence.bundle_keys",
    "core.evidence.bundle_dsse",
    "core.evidence.bundle_entry_set",
    "core.evidence.bundle_entries",
    "core.evidence.bundle_attestations",
    "core.evidence.bundle_verify",
)
HEADER = ("#!/usr/bin/env python3\n# Countersign evidence-bundle verifier. Needs only Python 3.11+ and the "
          "'cryptography' package.\n# Usage: python verify.py BUNDLE_DIR [--trusted-key VERIFIER_KEY]\n")
FUTURE = "from __future__ import annotations\n"

_DOCSTRING = re.compile(r'(?s)\A""".*?"""\n')
_INLINE_BLOCK = re.compile(r"(?ms)^# --- inline: .*?^# --- end inline ---\n")
_ALL = re.compile(r"(?ms)^__all__ = \[.*?\]\n")
_COUNTERSIGN_IMPORT = re.compile(r"(?m)^(from|import)\s+(core|cli|app)\b")  # at module level


def module_source(name: str) -> str:
    """The source text of the module ``name``, read without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        raise RuntimeError(f"verify.py: cannot find the module {name}")
    return Path(spec.origin).read_text(encoding="utf-8")


def inlined(name: str, source: str) -> str:
    """``source`` of the module ``name`` as it goes into ``verify.py``: without its docstring, ``from __future__``
    line, ``__all__`` and inline-marked imports; :class:`RuntimeError` if a module-level import of Countersign remains
    (one inside a function, run only inside Countersign, may stay)."""
    text = _DOCSTRING.sub("", source, count=1)
    text = text.replace(FUTURE, "")
    text = _ALL.sub("", text)
    text = _INLINE_BLOCK.sub("", text)
    leftover = _COUNTERSIGN_IMPORT.search(text)
    if leftover:
        line = text[leftover.start():].splitlines()[0]
        raise RuntimeError(f"verify.py: {name} imports {line!r} outside an inline block")
    return f"# ---- {name} (inlined) ----\n{text}"


def standalone_verifier() -> str:
    """The source of ``verify.py``: the verifier's modules (:data:`VERIFIER_MODULES`) inlined into one file."""
    sources = {name: module_source(name) for name in VERIFIER_MODULES}
    docstring = _DOCSTRING.match(sources["core.evidence.bundle_verify"])
    if docstring is None:
        raise RuntimeError("verify.py: core.evidence.bundle_verify has no docstring")
    body = "\n".join(inlined(name, source) for name, source in sources.items())
    return f"{HEADER}{docstring.group(0)}\n{FUTURE}\n{body}"
