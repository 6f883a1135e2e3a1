"""Import the app's heavy chart library in the background once per server process.

``altair`` (with ``jsonschema`` and its schema files) takes 1-3 s to import; pages import it where they draw charts
(:mod:`app.charts`, the model card), so without this the first visit to such a page after the server starts waited
for the import. :func:`start` runs the import on a daemon thread once the app's first script run has drawn its page
(the sign-in page, while the user types: started earlier, the import would compete with that first render for the
interpreter); a page that needs the module before the thread has finished simply waits for the same
import to finish (Python's per-module import lock), so nothing is imported twice.
"""

from __future__ import annotations

import importlib
import threading

__all__ = ["MODULES", "start"]

MODULES: tuple[str, ...] = ("altair",)
"""Modules imported in the background: those whose first import costs a page visit more than a second."""

_started = threading.Event()
_guard = threading.Lock()


def _import_all() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 — the page that needs it will import it again and show its own error
            pass


def start() -> threading.Thread | None:
    """Start the background import (once per process); the thread, or ``None`` if it was started before."""
    with _guard:
        if _started.is_set():
            return None
        _started.set()
    thread = threading.Thread(target=_import_all, name="countersign-warmup", daemon=True)
    thread.start()
    return thread
