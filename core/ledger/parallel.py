"""Worker processes for the ledger's CPU-bound work: signing and verifying large batches of entries.

Threads do not scale this on CPython. libsodium releases the GIL while it signs or verifies, but each return to
Python has to win the GIL back from the thread that is sequencing or replaying entries, which keeps it for whole
switch intervals (5 ms); measured here, two signing threads beside a busy main thread sign at ≈ 1.3× one. Worker
processes share nothing but the messages they are sent, so both cores stay busy.

The workers are plain ``python -m core.ledger.worker`` child processes speaking over their stdin/stdout pipes, not
``multiprocessing``: its ``spawn`` start method re-imports the parent's ``__main__`` in every child, which for an
unguarded user script would run that script again — and could append to the ledger from a child. Messages are
``marshal``-encoded (bytes, strings, numbers, lists and tuples only: nothing executes on load), framed by a 4-byte
length. Only functions listed in :data:`core.ledger.worker.TASKS` can be called.

The pool starts lazily, holds one process per core and lives as long as this process. Callers use it only for
batches large enough to repay the hand-off (thousands of entries), and redo a task in-process — identical result,
slower — when no worker can be started or one fails; after :data:`MAX_RESTARTS` replaced pools this process stops
using workers. ``COUNTERSIGN_WORKERS=0`` turns the pool off; a positive number sets its size.

What crosses to a worker: entry bytes and, for signing, the signer's 32-byte seed for the duration of the task,
through an anonymous pipe between two processes of the same user — never through a file.
"""

from __future__ import annotations

import atexit
import marshal
import os
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

_HEADER = struct.Struct(">I")


class WorkerError(RuntimeError):
    """A worker process died or answered with an error."""


def worker_count() -> int:
    """Processes in the pool: ``COUNTERSIGN_WORKERS`` if set, else one per core; 0 means no pool."""
    configured = os.environ.get("COUNTERSIGN_WORKERS", "").strip()
    if configured:
        try:
            return max(0, int(configured))
        except ValueError:
            pass
    return os.cpu_count() or 1


def write_frame(stream: Any, value: Any) -> None:  # noqa: ANN401 - a binary stream and a marshal-able value
    data = marshal.dumps(value)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def read_frame(stream: Any) -> Any:  # noqa: ANN401
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        raise EOFError("worker pipe closed")
    (size,) = _HEADER.unpack(header)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError("worker pipe closed mid-message")
    return marshal.loads(data)


_Task = tuple[str, tuple[Any, ...], Future[Any]]


class _Worker:
    """One child process and the thread that feeds it tasks from the shared queue."""

    def __init__(self, tasks: queue.Queue[_Task | None]) -> None:
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "core.ledger.worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
            cwd=package_root,
        )
        self.tasks = tasks
        self.thread = threading.Thread(target=self._run, name="countersign-worker", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        stdin, stdout = self.process.stdin, self.process.stdout
        failure: str | None = None
        while True:
            task = self.tasks.get()
            if task is None:
                break
            name, args, future = task
            if not future.set_running_or_notify_cancel():
                continue
            if failure is not None:  # keep draining, so no caller waits on a dead worker
                future.set_exception(WorkerError(failure))
                continue
            try:
                write_frame(stdin, (name, args))
                ok, value = read_frame(stdout)
            except (OSError, EOFError, ValueError) as exc:
                failure = f"worker process failed: {exc}"
                future.set_exception(WorkerError(failure))
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(WorkerError(f"worker task {name} failed: {value}"))
        self.close()

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and self.thread.is_alive()

    def close(self) -> None:
        try:
            if self.process.stdin:
                self.process.stdin.close()
        except OSError:
            pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


class WorkerPool:
    """A fixed set of worker processes sharing one task queue."""

    def __init__(self, count: int) -> None:
        self.tasks: queue.Queue[_Task | None] = queue.Queue()
        self.workers = [_Worker(self.tasks) for _ in range(count)]

    @property
    def alive(self) -> bool:
        return all(w.alive for w in self.workers)

    def submit(self, name: str, *args: Any) -> Future[Any]:  # noqa: ANN401
        future: Future[Any] = Future()
        self.tasks.put((name, args, future))
        return future

    def shutdown(self) -> None:
        for _ in self.workers:
            self.tasks.put(None)
        for worker in self.workers:
            worker.thread.join(timeout=10)
        while True:  # fail whatever no worker will take any more
            try:
                task = self.tasks.get_nowait()
            except queue.Empty:
                break
            if task is not None and task[2].set_running_or_notify_cancel():
                task[2].set_exception(WorkerError("worker pool shut down"))


_lock = threading.Lock()
_pool: WorkerPool | None = None
_disabled = False
_restarts = 0
#: A pool that had to be replaced this many times (workers that die on start, say) is given up for good.
MAX_RESTARTS = 3


def pool() -> WorkerPool | None:
    """The shared pool, started on first use; ``None`` when workers are turned off or cannot start."""
    global _pool, _disabled, _restarts
    with _lock:
        if _pool is not None and _pool.alive:
            return _pool
        if _pool is not None:  # a worker died: start afresh, a bounded number of times
            stale, _pool = _pool, None
            stale.shutdown()
            _restarts += 1
            if _restarts >= MAX_RESTARTS:
                _disabled = True
        count = worker_count()
        if _disabled or count < 1:
            return None
        try:
            _pool = WorkerPool(count)
        except OSError:  # cannot start processes here
            _disabled = True
            return None
        return _pool


def running() -> bool:
    """Whether the worker processes are already started (so handing them work costs no start-up)."""
    current = _pool
    return current is not None and current.alive


def submit(name: str, *args: Any) -> Future[Any] | None:  # noqa: ANN401 - forwarded arguments
    """Run task ``name`` (see :data:`core.ledger.worker.TASKS`) in a worker; ``None`` when there is no pool."""
    executor = pool()
    return None if executor is None else executor.submit(name, *args)


def result_or_run(future: Future[T] | None, fn: Callable[..., T], *args: Any) -> T:  # noqa: ANN401
    """The worker's result, or — when there was no worker or it failed — ``fn(*args)`` run here."""
    if future is not None:
        try:
            return future.result()
        except WorkerError:
            pass
    return fn(*args)


@atexit.register
def shutdown() -> None:
    """Stop the workers (also run at interpreter exit); the next :func:`pool` call may start afresh."""
    global _pool, _disabled, _restarts
    with _lock:
        executor, _pool = _pool, None
        _disabled, _restarts = False, 0
    if executor is not None:
        executor.shutdown()
