"""Trusted pickles run in an isolated child process that returns only predictions.

A pickle or joblib artifact runs code when it is loaded. Countersign never loads one in the process of the person
acting: :class:`IsolatedModel` starts ``python -m core.sandbox`` with

* a **scrubbed environment** — only ``PATH``, locale, time zone and BLAS/thread settings pass; no
  ``COUNTERSIGN_*`` (so no password), no database URI, no cloud or proxy credentials;
* **no database handle and no path** — the artifact's bytes (already digest-checked by the parent) arrive over a
  pipe; the child's working directory and ``HOME`` are an empty temporary directory;
* **resource limits** — address space (``COUNTERSIGN_SANDBOX_MEMORY_MB``, default 4096), CPU seconds
  (``COUNTERSIGN_SANDBOX_CPU_SECONDS``, default 1800), no core dumps, lower priority;

and talks to it over stdin/stdout in length-prefixed frames: JSON headers and Apache Arrow IPC bodies, never pickle
in the parent. The parent sees a model-shaped proxy (``predict``, ``predict_proba``, ``classes_``,
``feature_names_in_``) whose answers are data only.

What this does not do: the child still runs as the same operating-system user, so code in a trusted pickle can read
files that user can read (keep the service secret readable only by the service account, or evaluate pickles on a
machine without it) and can use the network. Trust is therefore also personal: whoever causes a pickle to load must
have vouched for its exact bytes in the ledger (see :mod:`core.governance`).
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
from typing import IO, Any

__all__ = ["IsolatedModel", "SandboxError", "scrubbed_environment"]

_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
                 "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
_HEADER = struct.Struct(">Q")
MAX_FRAME = 4 << 30


class SandboxError(Exception):
    """The isolated process refused, failed or died; the message says why."""


def scrubbed_environment(home: str) -> dict[str, str]:
    """The child's whole environment: an allow-list of harmless variables, nothing else."""
    env = {k: v for k, v in os.environ.items() if k in _PASS_THROUGH}
    env.update({"HOME": home, "TMPDIR": home, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1",
                "ARROW_DEFAULT_MEMORY_POOL": "system"})
    return env


def _limits() -> None:  # runs in the child between fork and exec
    import resource

    memory = int(os.environ.get("COUNTERSIGN_SANDBOX_MEMORY_MB", "4096")) << 20
    cpu = int(os.environ.get("COUNTERSIGN_SANDBOX_CPU_SECONDS", "1800"))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    os.nice(5)


def _write(stream: IO[bytes], *frames: bytes) -> None:
    for frame in frames:
        stream.write(_HEADER.pack(len(frame)))
        stream.write(frame)
    stream.flush()


def _read(stream: IO[bytes]) -> bytes:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the isolated process closed its pipe")
    (size,) = _HEADER.unpack(head)
    if size > MAX_FRAME:
        raise SandboxError(f"frame of {size} bytes refused")
    body = stream.read(size)
    if len(body) < size:
        raise EOFError("the isolated process closed its pipe mid-frame")
    return body


def _table_bytes(frame: Any) -> bytes:  # noqa: ANN401
    import pyarrow as pa

    table = pa.Table.from_pandas(frame, preserve_index=False) if hasattr(frame, "columns") else pa.table(
        {f"x{i}": frame[:, i] for i in range(frame.shape[1])})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _table_from(body: bytes) -> Any:  # noqa: ANN401
    import pyarrow as pa

    return pa.ipc.open_stream(pa.py_buffer(body)).read_all()


class IsolatedModel:
    """A trusted pickle/joblib model living in a sandboxed child process; use as a context manager.

    ``artifact`` is the file's bytes (digest-checked by the caller) and ``fmt`` ``pickle`` or ``joblib``. The proxy
    has the attributes evaluation needs — ``classes_``, ``feature_names_in_``, ``n_features_in_`` (when the model has
    them) and ``description`` (:func:`core.artifacts.describe` of the real object) — and ``predict``/
    ``predict_proba`` (the latter only when the model has it), each returning NumPy arrays.
    """

    def __init__(self, artifact: bytes, fmt: str) -> None:
        self._home = tempfile.TemporaryDirectory(prefix="countersign-sandbox-")
        self._proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            [sys.executable, "-I", "-m", "core.sandbox"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=self._home.name, env=scrubbed_environment(self._home.name),
            preexec_fn=_limits, close_fds=True)  # noqa: PLW1509 - the limits must apply before exec
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

    def _reply(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        try:
            header = json.loads(_read(self._proc.stdout))
        except (EOFError, ValueError) as exc:
            self._proc.kill()
            err = (self._proc.stderr.read() if self._proc.stderr else b"").decode("utf-8", "replace")[-2000:]
            code = self._proc.wait()
            raise SandboxError(f"the isolated model process ended ({exc}; exit code {code}): {err.strip()}") from None
        if "error" in header:
            raise SandboxError(header["error"])
        return dict(header)

    def _call(self, op: str, x: Any) -> Any:  # noqa: ANN401
        assert self._proc.stdin is not None and self._proc.stdout is not None
        try:
            _write(self._proc.stdin, json.dumps({"op": op}).encode(), _table_bytes(x))
        except (BrokenPipeError, OSError):
            return self._reply()  # raises with the child's last words
        self._reply()
        return _table_from(_read(self._proc.stdout))

    def predict(self, x: Any) -> Any:  # noqa: ANN401
        return self._call("predict", x).column(0).to_numpy(zero_copy_only=False)

    def _predict_proba(self, x: Any) -> Any:  # noqa: ANN401
        import numpy as np

        table = self._call("predict_proba", x)
        return np.column_stack([c.to_numpy(zero_copy_only=False) for c in table.columns])

    def close(self) -> None:
        proc = self.__dict__.get("_proc")
        if proc is not None and proc.poll() is None:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
                proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                proc.kill()
                proc.wait()
        for stream in (getattr(proc, "stdout", None), getattr(proc, "stderr", None)):
            if stream is not None:
                stream.close()
        home = self.__dict__.get("_home")
        if home is not None:
            home.cleanup()


# ---------------------------------------------------------------------------------------------------- the child
def _serve() -> None:
    import io

    import numpy as np
    import pyarrow as pa

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # whatever the model prints must not corrupt the frames

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
        from core.artifacts import _jsonable, describe

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
    return sink.getvalue().to_pybytes()


if __name__ == "__main__":
    _serve()
