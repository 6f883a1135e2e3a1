"""A worker process of :mod:`core.ledger.parallel`: ``python -m core.ledger.worker``.

Reads frames ``(task name, arguments)`` from standard input and answers each with ``(True, result)`` or
``(False, error text)`` on standard output, until its input closes. Only the functions in :data:`TASKS` can be
called; frames are ``marshal``-encoded plain data (see :mod:`core.ledger.parallel`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from core.ledger.parallel import read_frame, write_frame


def _sign_many(seed: bytes, messages: list[bytes]) -> bytes:
    from core.tlog.ed25519 import sign_many

    return sign_many(seed, messages)


def _check_entries(*args: Any) -> Any:  # noqa: ANN401 - forwarded
    from core.ledger.verify_entries import check_entries

    return check_entries(*args)


#: The only calls a worker accepts.
TASKS: dict[str, Callable[..., Any]] = {"sign_many": _sign_many, "check_entries": _check_entries}


#: Workers yield the CPU to the process that feeds them (it sequences entries and writes the database).
NICENESS = 10


def main() -> None:
    try:
        os.nice(NICENESS)
    except OSError:
        pass
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing may print into the reply stream
    while True:
        try:
            name, args = read_frame(requests)
        except EOFError:
            return
        task = TASKS.get(name)
        try:
            reply = (True, task(*args)) if task is not None else (False, f"unknown task {name!r}")
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which redoes the task itself
            reply = (False, f"{type(exc).__name__}: {exc}")
        write_frame(replies, reply)


if __name__ == "__main__":
    main()
