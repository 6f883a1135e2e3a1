"""The worker-process pool: real child processes, their failure modes, and the in-process fallback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.ledger import parallel
from core.tlog import ed25519

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture()
def fresh_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("COUNTERSIGN_WORKERS", "2")
    parallel.shutdown()
    yield
    parallel.shutdown()


def test_a_worker_signs_exactly_what_this_process_signs(fresh_pool: None) -> None:
    key = ed25519.SigningKey(os.urandom(32))
    messages = [os.urandom(200) for _ in range(100)]
    future = parallel.submit("sign_many", key.seed, messages)
    assert future is not None
    assert future.result(timeout=60) == ed25519.sign_many(key.seed, messages)
    pool = parallel.pool()
    assert pool is not None and len(pool.workers) == 2 and parallel.running()
    assert all(w.process.pid != os.getpid() for w in pool.workers)


def test_an_unknown_task_fails_and_the_caller_does_the_work_itself(fresh_pool: None) -> None:
    future = parallel.submit("os.system", "true")
    assert future is not None
    with pytest.raises(parallel.WorkerError, match="unknown task"):
        future.result(timeout=60)
    assert parallel.result_or_run(parallel.submit("nope"), lambda: "done here") == "done here"


def test_a_killed_worker_is_replaced_and_its_task_redone_here(fresh_pool: None) -> None:
    key = ed25519.SigningKey(os.urandom(32))
    pool = parallel.pool()
    assert pool is not None
    for worker in pool.workers:
        worker.process.kill()
        worker.process.wait()
    future = parallel.WorkerPool.submit(pool, "sign_many", key.seed, [b"x"])
    with pytest.raises(parallel.WorkerError):
        future.result(timeout=60)
    assert parallel.result_or_run(future, ed25519.sign_many, key.seed, [b"x"]) == key.sign(b"x")
    replacement = parallel.pool()
    assert replacement is not None and replacement is not pool and replacement.alive
    again = parallel.submit("sign_many", key.seed, [b"y"])
    assert again is not None and again.result(timeout=60) == key.sign(b"y")


def test_workers_that_keep_dying_are_given_up(fresh_pool: None) -> None:
    for _ in range(parallel.MAX_RESTARTS):
        pool = parallel.pool()
        assert pool is not None
        for worker in pool.workers:
            worker.process.kill()
            worker.process.wait()
    assert parallel.pool() is None  # no endless respawning: the work is done in-process from now on
    assert parallel.result_or_run(parallel.submit("sign_many", bytes(32), [b"m"]), lambda: "here") == "here"
    parallel.shutdown()
    assert parallel.pool() is not None  # an explicit shutdown starts over


def test_workers_can_be_turned_off(monkeypatch: pytest.MonkeyPatch) -> None:
    parallel.shutdown()
    monkeypatch.setenv("COUNTERSIGN_WORKERS", "0")
    assert parallel.pool() is None and parallel.submit("sign_many", b"0" * 32, []) is None
    assert not parallel.running()
    assert parallel.result_or_run(None, lambda: 42) == 42


def test_workers_do_not_rerun_the_calling_script(tmp_path: Path) -> None:
    """multiprocessing's spawn would import an unguarded __main__ in every child; our workers must not."""
    marker = tmp_path / "runs.txt"
    script = tmp_path / "unguarded.py"
    script.write_text(textwrap.dedent(f"""
        from pathlib import Path
        from core.tlog import ed25519
        from core.ledger import parallel
        with open({str(marker)!r}, "a") as f:
            f.write("ran\\n")
        key = ed25519.SigningKey(bytes(32))
        futures = [parallel.submit("sign_many", key.seed, [b"m"]) for _ in range(4)]
        assert all(f is not None and f.result(timeout=60) == key.sign(b"m") for f in futures)
        print("ok")
    """))
    env = {**os.environ, "COUNTERSIGN_WORKERS": "2", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert marker.read_text() == "ran\n"


def test_frames_round_trip_and_truncation_is_an_error() -> None:
    stream = io.BytesIO()
    value = ("sign_many", (b"\x00" * 32, [b"a", b"bc"]), {"k": [1, None, "é"]})
    parallel.write_frame(stream, value)
    data = stream.getvalue()
    assert parallel.read_frame(io.BytesIO(data)) == value
    with pytest.raises(EOFError):
        parallel.read_frame(io.BytesIO(data[:-1]))
    with pytest.raises(EOFError):
        parallel.read_frame(io.BytesIO(b""))
