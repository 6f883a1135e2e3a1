"""Trusted pickles run in an isolated child process that returns only predictions.

A pickle or joblib artifact runs code when it is loaded. Countersign never loads one in the process of the person
acting: :class:`IsolatedModel` starts ``python -m core.evaluation.sandbox`` with

* a **scrubbed environment** — only ``PATH``, locale, time zone and BLAS/thread settings pass; no
  ``COUNTERSIGN_*`` (so no password), no database URI, no cloud or proxy credentials;
* **no database handle and no path** — the artifact's bytes (already digest-checked by the parent) arrive over a
  pipe; the child's working directory and ``HOME`` are an empty temporary directory;
* **resource limits** — address space (``COUNTERSIGN_SANDBOX_MEMORY_MB``, default 4096), CPU seconds
  (``COUNTERSIGN_SANDBOX_CPU_SECONDS``, default 1800), a wall-clock limit per answer
  (``COUNTERSIGN_SANDBOX_TIMEOUT``, default 600 s), no core dumps, lower priority, no new privileges;
* **no way into the parent** — the parent marks itself non-dumpable before starting the child, so its ``/proc``
  files (environment, memory) are closed to other processes of the same user; run as root, the child starts through
  ``setpriv`` with every capability dropped for good (it refuses to start as a full root process);
* **its own session** — on close the whole process group is killed, and answers are bounded in size and checked
  in shape (one prediction per row, one probability per class);

and talks to it over stdin/stdout in length-prefixed frames: JSON headers and Apache Arrow IPC bodies, never pickle
in the parent. The parent sees a model-shaped proxy (``predict``, ``predict_proba``, ``classes_``,
``feature_names_in_``) whose answers are data only.

What this does not do: the child still runs as the same operating-system user, so code in a trusted pickle can read
files that user can read (keep the service secret readable only by the service account, or evaluate pickles on a
machine without it), can use the network, and can start a process of its own that leaves the session. Trust is
therefore also personal: whoever causes a pickle to load must have vouched for its exact bytes in the ledger (see
:mod:`core.policy.governance`).
"""

from __future__ import annotations

import collections
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import IO, Any

__all__ = ["IsolatedModel", "SandboxError", "scrubbed_environment"]

_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                 "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_HEADER = struct.Struct(">Q")
#: Largest answer the parent accepts from the child (predictions of a batch are far smaller).
MAX_FRAME = 1 << 30
_SETPRIV = ("--no-new-privs", "--bounding-set=-all", "--inh-caps=-all", "--ambient-caps=-all",
            "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked", "--")


class SandboxError(Exception):
    """The isolated process refused, failed or died; the message says why."""


def scrubbed_environment(home: str) -> dict[str, str]:
    """The child's whole environment: an allow-list of harmless variables, nothing else."""
    env = {k: v for k, v in os.environ.items() if k in _PASS_THROUGH}
    env.update({"HOME": home, "TMPDIR": home, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
                "ARROW_DEFAULT_MEMORY_POOL": "system"})
    return env


def _limits_from_environment() -> Callable[[], None]:
    """The child's limits, read and checked here, in the parent (a bad value is the user's :class:`BadInput`, not
    a failure between fork and exec): ``COUNTERSIGN_SANDBOX_MEMORY_MB`` (64 to 1,048,576; default 4096) and
    ``COUNTERSIGN_SANDBOX_CPU_SECONDS`` (1 to 10,000,000; default 1800 — there is no "unlimited")."""
    from core import config

    memory = int(config.env_number("COUNTERSIGN_SANDBOX_MEMORY_MB", 4096, minimum=64, maximum=1 << 20,
                                   integer=True)) << 20
    cpu = int(config.env_number("COUNTERSIGN_SANDBOX_CPU_SECONDS", 1800, minimum=1, maximum=10_000_000,
                                integer=True))
    return lambda: _limits(memory, cpu)


def _limits(memory: int, cpu: int) -> None:  # runs in the child between fork and exec
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)
    _prctl(38, 1)  # PR_SET_NO_NEW_PRIVS: nothing it execs can gain privileges


def _prctl(option: int, value: int) -> int:
    import ctypes

    return int(ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0))


def _command() -> list[str]:
    """The child's command line. As root, ``setpriv`` drops every capability for good (so the child cannot read
    other processes' memory or environment); without it the sandbox refuses to start rather than run as root."""
    child = [sys.executable, "-I", "-m", "core.evaluation.sandbox"]
    if os.geteuid() != 0:
        return child
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise SandboxError("running as root without 'setpriv' (util-linux): cannot drop the isolated process's "
                           "capabilities, so the pickle is not loaded")
    return [setpriv, *_SETPRIV, *child]


def _write(stream: IO[bytes], *frames: bytes) -> None:
    for frame in frames:
        stream.write(_HEADER.pack(len(frame)))
        stream.write(frame)
    stream.flush()


def _read(stream: IO[bytes]) -> bytes:
    """One frame from a blocking stream (the child's side: the parent is trusted)."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the isolated process closed its pipe")
    (size,) = _HEADER.unpack(head)
    body = stream.read(size)
    if len(body) < size:
        raise EOFError("the isolated process closed its pipe mid-frame")
    return body


def _read_exactly(fd: int, size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    missing = size
    while missing:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no answer in time")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, min(missing, 1 << 20))
        if not chunk:
            raise EOFError("the isolated process closed its pipe")
        chunks.append(chunk)
        missing -= len(chunk)
    return b"".join(chunks)


def _read_bounded(fd: int, deadline: float) -> bytes:
    """One frame from the child, within ``deadline`` and :data:`MAX_FRAME` (the child is not trusted)."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size, deadline))
    if size > MAX_FRAME:
        raise SandboxError(f"the isolated process sent a frame of {size} bytes (more than {MAX_FRAME})")
    return _read_exactly(fd, size, deadline)


def _table_bytes(frame: Any) -> bytes:  # noqa: ANN401
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False) if hasattr(frame, "columns") else pa.table(
        {f"x{i}": frame[:, i] for i in range(frame.shape[1])})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def _table_from(body: bytes) -> Any:  # noqa: ANN401
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(body)).read_all()


class IsolatedModel:
    """A trusted pickle/joblib model living in a sandboxed child process; use as a context manager.

    ``artifact`` is the file's bytes (digest-checked by the caller) and ``fmt`` ``pickle`` or ``joblib``. The proxy
    has the attributes evaluation needs — ``classes_``, ``feature_names_in_``, ``n_features_in_`` (when the model has
    them) and ``description`` (:func:`core.catalog.artifacts.describe` of the real object) — and ``predict``/
    ``predict_proba`` (the latter only when the model has it), each returning NumPy arrays.
    """

    def __init__(self, artifact: bytes, fmt: str) -> None:
        # Our own environment holds credentials (COUNTERSIGN_PASSWORD): a non-dumpable process's /proc files and
        # memory are closed to other processes of the same user (and, below, the child has no capabilities).
        _prctl(4, 0)  # PR_SET_DUMPABLE = 0
        from core import config

        self._timeout = config.env_number("COUNTERSIGN_SANDBOX_TIMEOUT", 600, minimum=1, maximum=10_000_000)
        limits = _limits_from_environment()
        command = _command()
        self._home = tempfile.TemporaryDirectory(prefix="countersign-sandbox-")
        self._stderr: collections.deque[bytes] = collections.deque(maxlen=64)
        self._proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=self._home.name, env=scrubbed_environment(self._home.name),
            preexec_fn=limits, close_fds=True, start_new_session=True)  # noqa: PLW1509 - limits before exec
        threading.Thread(target=self._drain, daemon=True).start()
        try:
            assert self._proc.stdin is not None and self._proc.stdout is not None
            _write(self._proc.stdin, json.dumps({"format": fmt}).encode(), artifact)
            info = self._reply()
        except BaseException:
            self.close()
            raise
        self.description: dict[str, Any] = info["description"]
        self._has_proba = bool(info["has_predict_proba"])
        if info.get("classes") is not None:
            import numpy as np

            self.classes_ = np.asarray(info["classes"], dtype=object if any(isinstance(c, str) for c in
                                                                            info["classes"]) else None)
        if info.get("feature_names_in") is not None:
            import numpy as np

            self.feature_names_in_ = np.asarray(info["feature_names_in"], dtype=object)
        if info.get("n_features_in") is not None:
            self.n_features_in_ = int(info["n_features_in"])

    def __enter__(self) -> IsolatedModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        if name == "predict_proba" and self.__dict__.get("_has_proba"):
            return self._predict_proba
        raise AttributeError(name)

    def _drain(self) -> None:
        """Keep the child's stderr (and whatever the model prints) flowing; remember the last 64 KiB."""
        stream = self._proc.stderr
        while stream is not None:
            try:
                chunk = stream.read1(1024)  # type: ignore[attr-defined]  # a BufferedReader (Popen, bufsize -1)
            except (OSError, ValueError):
                return
            if not chunk:
                return
            self._stderr.append(chunk)

    def _fail(self, why: str) -> SandboxError:
        self._kill()
        last = b"".join(self._stderr).decode("utf-8", "replace")[-2000:].strip()
        return SandboxError(f"the isolated model process {why} (exit code {self._proc.returncode})"
                            + (f": {last}" if last else ""))

    def _frame(self) -> bytes:
        assert self._proc.stdout is not None
        try:
            return _read_bounded(self._proc.stdout.fileno(), time.monotonic() + self._timeout)
        except TimeoutError:
            raise self._fail(f"gave no answer within {self._timeout:.0f} s (COUNTERSIGN_SANDBOX_TIMEOUT)") from None
        except (EOFError, OSError):
            raise self._fail("ended") from None

    def _reply(self) -> dict[str, Any]:
        body = self._frame()
        try:
            header = json.loads(body)
        except ValueError:
            raise self._fail("answered with something that is not a frame") from None
        if not isinstance(header, dict):
            raise self._fail("answered with something that is not a frame")
        if "error" in header:
            raise SandboxError(str(header["error"]))
        return header

    def _call(self, op: str, x: Any) -> Any:  # noqa: ANN401
        assert self._proc.stdin is not None
        try:
            _write(self._proc.stdin, json.dumps({"op": op}).encode(), _table_bytes(x))
        except (BrokenPipeError, OSError):
            return self._reply()  # raises with the child's last words
        self._reply()
        try:
            return _table_from(self._frame())
        except SandboxError:
            raise
        except Exception:  # noqa: BLE001 - whatever the child sent is not Arrow data
            raise self._fail("answered with data that is not an Arrow table") from None

    def predict(self, x: Any) -> Any:  # noqa: ANN401
        table = self._call("predict", x)
        if table.num_columns != 1 or table.num_rows != len(x):
            raise SandboxError(f"the model returned {table.num_rows} prediction(s) in {table.num_columns} column(s) "
                               f"for {len(x)} rows")
        return table.column(0).to_numpy(zero_copy_only=False)

    def _predict_proba(self, x: Any) -> Any:  # noqa: ANN401
        import numpy as np

        table = self._call("predict_proba", x)
        classes = self.__dict__.get("classes_")
        if table.num_rows != len(x) or (classes is not None and table.num_columns != len(classes)):
            raise SandboxError(f"the model returned probabilities of shape ({table.num_rows}, {table.num_columns}) "
                               f"for {len(x)} rows and {len(classes) if classes is not None else '?'} classes")
        return np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])

    def _kill(self) -> None:
        """End the child and everything it started in its session."""
        proc = self.__dict__.get("_proc")
        if proc is None:
            return
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        proc = self.__dict__.get("_proc")
        if proc is not None:
            if proc.poll() is None and proc.stdin is not None:
                try:
                    proc.stdin.close()
                    proc.wait(timeout=2)
                except (OSError, subprocess.TimeoutExpired):
                    pass
            self._kill()  # also whatever it started in its session
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        home = self.__dict__.get("_home")
        if home is not None:
            home.cleanup()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001, S110 - best effort at interpreter shutdown
            pass


# ---------------------------------------------------------------------------------------------------- the child
def _serve() -> None:
    import io

    import numpy as np
    import pyarrow as pa

    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")  # frames go out on a private copy of the pipe...
    os.dup2(2, 1)  # ...and whatever the model prints or writes to fd 1 goes to stderr
    sys.stdout = sys.stderr

    def reply(header: dict[str, Any], *bodies: bytes) -> None:
        _write(stdout, json.dumps(header).encode(), *bodies)

    options: dict[str, Any] = {}
    try:
        options = json.loads(_read(stdin))
        raw = _read(stdin)
        if options.get("format") == "joblib":
            import joblib

            model = joblib.load(io.BytesIO(raw))
        else:
            import pickle

            model = pickle.loads(raw)  # noqa: S301 - the acting user trusted these exact bytes (ledgered)
        from core.catalog.artifacts import _jsonable, describe

        if not callable(getattr(model, "predict", None)):
            raise TypeError(f"the file holds a {type(model).__module__}.{type(model).__qualname__}, not a model "
                            "with predict()")

        classes = getattr(model, "classes_", None)
        names = getattr(model, "feature_names_in_", None)
        n_in = getattr(model, "n_features_in_", None)
        reply({"description": describe(model), "has_predict_proba": hasattr(model, "predict_proba"),
               "classes": None if classes is None else _jsonable([c.item() if hasattr(c, "item") else c
                                                                  for c in classes]),
               "feature_names_in": None if names is None else [str(n) for n in names],
               "n_features_in": None if n_in is None else int(n_in)})
    except Exception as exc:  # noqa: BLE001 - every failure goes back to the parent as a message
        reply({"error": f"cannot load the {options.get('format', 'pickle')} artifact: {type(exc).__name__}: {exc}"})
        return
    while True:
        try:
            request = json.loads(_read(stdin))
        except EOFError:
            return
        body = _read(stdin)
        try:
            frame = _table_from(body).to_pandas()
            if list(frame.columns) and all(str(c).startswith("x") and str(c)[1:].isdigit() for c in frame.columns) \
                    and names is None:
                x: Any = np.ascontiguousarray(frame.to_numpy())
            else:
                x = frame
            if request["op"] == "predict":
                predicted = np.asarray(model.predict(x))
                out = pa.table({"prediction": pa.array(predicted.tolist() if predicted.dtype == object
                                                       else predicted)})
            elif request["op"] == "predict_proba":
                proba = np.asarray(model.predict_proba(x), dtype=float)
                out = pa.table({f"p{i}": proba[:, i] for i in range(proba.shape[1])})
            else:
                raise ValueError(f"unknown operation {request['op']!r}")
        except Exception as exc:  # noqa: BLE001
            reply({"error": f"the model failed: {type(exc).__name__}: {exc}"})
            continue
        reply({"ok": True}, _table_bytes_arrow(out))


def _table_bytes_arrow(table: Any) -> bytes:  # noqa: ANN401
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


if __name__ == "__main__":
    _serve()
