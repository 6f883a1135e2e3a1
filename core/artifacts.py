"""Model artifacts: safe loading, inspection and a content-addressed store.

scikit-learn models are stored and loaded with skops (``.skops``, a zip of JSON and arrays that is *parsed*, never
unpickled). skops itself trusts the common scikit-learn and NumPy types; any further type an artifact needs must be
on :data:`ALLOWED_TYPES` or the artifact is refused, naming the types. Pickle and joblib files execute code when
loaded, so they are refused before a single byte is unpickled — unless the acting user explicitly trusts the exact file
(``--trust-pickle``), a decision recorded in the ledger and shown wherever the model is shown. Even then the file
is only ever unpickled in an isolated child process (:mod:`core.sandbox`) that returns predictions, never in the
process that holds a user's credentials.

Registered artifacts are copied into ``<database>.artifacts/<sha256>.<format>``; every later use re-checks the
copy's digest before loading it.
"""

from __future__ import annotations

import hashlib
import shutil
import zipfile
from pathlib import Path
from typing import Any

from core.errors import BadInput
from core.hashing import sha256_file

#: Types beyond skops' defaults that Countersign trusts in ``.skops`` artifacts (needed by common sklearn
#: pipelines: HistGradientBoosting's tree predictors and binning, NumPy dtypes).
ALLOWED_TYPES: frozenset[str] = frozenset({
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.link.Interval",
    "sklearn.utils._bunch.Bunch",
})

_COMPRESSED_MAGICS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
                      b"\x5d\x00\x00")


def detect_format(path: Path) -> str:
    """``skops``, ``pickle`` or ``joblib`` from the file's magic bytes (never by unpickling)."""
    with path.open("rb") as fh:
        head = fh.read(8)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as zf:
                if "schema.json" in zf.namelist():
                    return "skops"
        except zipfile.BadZipFile:
            pass
        raise BadInput(f"{path}: a zip file that is not a skops artifact (no schema.json)")
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "joblib" if path.suffix.lower() in (".joblib", ".jbl") else "pickle"
    if head.startswith(_COMPRESSED_MAGICS):
        return "joblib"
    raise BadInput(f"{path}: unsupported model artifact format (expected .skops, or a pickle/joblib file with "
                   "--trust-pickle)")


def untrusted_types(path: Path) -> list[str]:
    """Types the skops file needs that neither skops nor :data:`ALLOWED_TYPES` trusts."""
    import skops.io as sio

    try:
        needed = sio.get_untrusted_types(file=path)
    except Exception as exc:  # noqa: BLE001 - a corrupt archive is bad input, whatever skops raises
        raise BadInput(f"{path}: not a readable skops artifact ({exc})") from None
    return sorted(t for t in needed if t not in ALLOWED_TYPES)


def load_skops(path: Path) -> Any:  # noqa: ANN401
    import skops.io as sio

    refused = untrusted_types(path)
    if refused:
        raise BadInput(f"{path}: the artifact needs types that are not on the allow-list: {', '.join(refused)}")
    trusted = sorted(set(sio.get_untrusted_types(file=path)))
    try:
        return sio.load(path, trusted=trusted)
    except Exception as exc:  # noqa: BLE001
        raise BadInput(f"{path}: cannot load skops artifact ({exc})") from None


def load_artifact(path: Path, fmt: str, *, trusted_pickle: bool) -> Any:  # noqa: ANN401
    if fmt == "skops":
        return load_skops(path)
    if not trusted_pickle:
        raise BadInput(
            f"{path} is a {fmt} file, which runs code when loaded: refused. Convert it with skops "
            "(skops.io.dump) or, if you trust this exact file, register it with --trust-pickle (recorded in the ledger)"
        )
    return load_isolated(path.read_bytes(), fmt, str(path))


def _jsonable(value: Any) -> Any:  # noqa: ANN401
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if hasattr(value, "get_params"):
        return type(value).__name__
    return repr(value)


def describe(model: Any) -> dict[str, Any]:  # noqa: ANN401
    """Framework, estimator class, hyperparameters and input features of a fitted model."""
    cls = type(model)
    final = model.steps[-1][1] if hasattr(model, "steps") else model
    framework = cls.__module__.split(".")[0]
    version = None
    if framework == "sklearn":
        import sklearn

        framework, version = "scikit-learn", sklearn.__version__
    params = {}
    if hasattr(model, "get_params"):
        params = {k: _jsonable(v) for k, v in sorted(model.get_params(deep=True).items())
                  if not hasattr(v, "get_params") and k not in ("steps", "transformers", "memory")}
    features = [str(f) for f in getattr(model, "feature_names_in_", [])]
    return {
        "framework": framework if version is None else f"{framework} {version}",
        "estimator": f"{cls.__module__}.{cls.__qualname__}",
        "final_estimator": f"{type(final).__module__}.{type(final).__qualname__}",
        "hyperparameters": params,
        "feature_names": features,
        "n_features": int(getattr(model, "n_features_in_", len(features)) or 0),
        "classes": _jsonable(list(getattr(final, "classes_", []))),
    }


def store_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".artifacts")


def store_copy(db_path: Path, source: Path, digest: str, fmt: str) -> Path:
    """Copy an artifact into the content-addressed store (idempotent)."""
    folder = store_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.{fmt}"
    if not target.exists():
        tmp = target.with_suffix(".partial")
        shutil.copyfile(source, tmp)
        tmp.replace(target)
    return target


def load_stored(db_path: Path, record: dict[str, Any]) -> Any:  # noqa: ANN401
    """Load a registered model from the store after re-checking its digest.

    A skops artifact is parsed in this process; a (trusted) pickle or joblib file is never unpickled here: the
    digest-checked bytes go to an :class:`core.sandbox.IsolatedModel`, whose caller must close it. Whether the
    acting user may cause the pickle to run at all is the caller's decision (personal trust, ledgered).
    """
    ref = f"{record['name']}@{record['version']}"
    if record.get("external"):
        raise BadInput(f"model {ref} is external: it has no artifact, only predictions")
    path = store_dir(db_path) / str(record["artifact_file"])
    if not path.exists():
        raise BadInput(f"model {ref}: stored artifact {path} is missing")
    if record["artifact_format"] in ("pickle", "joblib"):
        raw = path.read_bytes()
        actual = hashlib.sha256(raw).hexdigest()
        if actual != record["artifact_digest"]:
            raise BadInput(f"model {ref}: stored artifact changed: SHA-256 {actual}, expected "
                           f"{record['artifact_digest']}")
        if not record["trusted_pickle"]:
            raise BadInput(f"model {ref} is a {record['artifact_format']} file that nobody trusted: refused")
        return load_isolated(raw, record["artifact_format"], ref)
    actual = sha256_file(path)
    if actual != record["artifact_digest"]:
        raise BadInput(f"model {ref}: stored artifact changed: SHA-256 {actual}, expected {record['artifact_digest']}")
    return load_artifact(path, record["artifact_format"], trusted_pickle=bool(record["trusted_pickle"]))


def load_isolated(raw: bytes, fmt: str, what: str) -> Any:  # noqa: ANN401
    """A trusted pickle/joblib model in a sandboxed child process (:mod:`core.sandbox`); bad input on failure."""
    from core.sandbox import IsolatedModel, SandboxError

    try:
        return IsolatedModel(raw, fmt)
    except SandboxError as exc:
        raise BadInput(f"{what}: {exc}") from None


def digest_json(value: Any) -> str:  # noqa: ANN401
    from core.canonical import canonical_bytes

    return hashlib.sha256(canonical_bytes(value)).hexdigest()


