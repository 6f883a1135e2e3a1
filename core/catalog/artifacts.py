"""Model artifacts: safe loading, inspection and a content-addressed store.

scikit-learn models are stored and loaded with skops (``.skops``, a zip of JSON and arrays that is *parsed*, never
unpickled). skops itself trusts the common scikit-learn and NumPy types; any further type an artifact needs must be
on :data:`ALLOWED_TYPES` or the artifact is refused, naming the types. Pickle and joblib files execute code when
loaded, so they are refused before a single byte is unpickled — unless the acting user explicitly trusts the exact file
(``--trust-pickle``), a decision recorded in the ledger and shown wherever the model is shown. Even then the file
is only ever unpickled in an isolated child process (:mod:`core.evaluation.sandbox`) that returns predictions, never in
the
process that holds a user's credentials.

Registered artifacts are copied into ``<database>.artifacts/<sha256>.<format>``; every later use re-checks the
copy's digest before loading it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import struct
import zipfile
import zlib
from pathlib import Path
from typing import IO, Any

from core.catalog.hashing import sha256_file
from core.errors import BadInput
from core.inputs.limits import (
    MAX_SKOPS_BYTES,
    MAX_SKOPS_COMPRESSION_RATIO,
    MAX_SKOPS_DIRECTORY_BYTES,
    MAX_SKOPS_MEMBERS,
    MAX_SKOPS_SCHEMA_BYTES,
    MAX_SKOPS_SCHEMA_NODES,
    SKOPS_RATIO_CHECKED_ABOVE,
    MiB,
    describe_bytes,
)
from core.storage.site import Site

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
    # scikit-learn's own fitted state of trees and calibration, rebuilt by skops' reducers (no code runs)
    "sklearn.tree._tree.Tree",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
})

_COMPRESSED_MAGICS = (b"\x78\x01", b"\x78\x5e", b"\x78\x9c", b"\x78\xda", b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00",
                      b"\x5d\x00\x00")


def detect_format(path: Path) -> str:
    """``skops``, ``pickle`` or ``joblib`` from the file's magic bytes (never by unpickling).

    A zip file is a skops artifact only if it passes :func:`check_skops_archive` (declared sizes within the limits).
    """
    with path.open("rb") as fh:
        head = fh.read(8)
        if head.startswith(b"PK\x03\x04"):
            check_skops_archive(fh, path)
            return "skops"
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        return "joblib" if path.suffix.lower() in (".joblib", ".jbl") else "pickle"
    if head.startswith(_COMPRESSED_MAGICS):
        return "joblib"
    raise BadInput(f"{path}: unsupported model artifact format (expected .skops, or a pickle/joblib file with "
                   "--trust-pickle)")


def _sizes(info: zipfile.ZipInfo) -> str:
    return (f"declares {describe_bytes(info.file_size)} uncompressed from {describe_bytes(info.compress_size)} "
            f"compressed")


def _bad_name(name: str) -> bool:
    parts = name.split("/")
    return (name.startswith("/") or "\\" in name or "\x00" in name or ".." in parts
            or (len(parts[0]) >= 2 and parts[0][1] == ":"))


def check_skops_archive(handle: IO[bytes], path: Path) -> None:  # noqa: C901 - one flat list of checks
    """Refuse (:class:`BadInput`) a skops archive whose declared sizes exceed :mod:`core.inputs.limits`, or that lies.

    The end-of-archive record and the central directory (the list of members with their declared sizes) are checked
    first, before zipfile parses them and before skops reads anything: member count, total and ``schema.json``
    sizes, compression ratio, method, names, overlap. A stored member (skops' default) cannot then cost more than
    it declares: zipfile reads exactly its declared length and checks its CRC-32. A deflated one can: zipfile
    inflates a member in one step of up to 1 GiB before it cuts the output at the declared size, so a member that
    declares 1 MiB but inflates to 300 MiB would cost 300 MiB at every load, and pass if its CRC covers the first
    MiB. So each deflated member is also inflated here once, in 1 MiB steps, and refused as soon as it produces more
    than it declares (or ends short, or fails its CRC): bounded by the declared sizes just checked. Other methods
    (bzip2, LZMA) are refused: zipfile inflates those without any output bound.
    """
    size = os.fstat(handle.fileno()).st_size
    if size > MAX_SKOPS_BYTES:
        raise BadInput(f"{path}: the skops artifact is {describe_bytes(size)}; the limit is "
                       f"{describe_bytes(MAX_SKOPS_BYTES)}")
    try:
        # zipfile reads the whole central directory and parses every entry it holds when the archive is opened:
        # bound both from the end-of-archive record first (a private helper, present in every supported Python).
        end = zipfile._EndRecData(handle)  # type: ignore[attr-defined]  # noqa: SLF001
    except OSError as exc:
        raise BadInput(f"{path}: not a readable zip archive ({exc})") from None
    if end is None:
        raise BadInput(f"{path}: a zip file that is not a skops artifact (no end-of-archive record)")
    entries, directory = end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE]  # noqa: SLF001
    if entries > MAX_SKOPS_MEMBERS:
        raise BadInput(f"{path}: the skops archive declares {entries:,} members; the limit is {MAX_SKOPS_MEMBERS:,}")
    if directory > MAX_SKOPS_DIRECTORY_BYTES:
        raise BadInput(f"{path}: the skops archive's member list (zip central directory) is "
                       f"{describe_bytes(directory)}; the limit is {describe_bytes(MAX_SKOPS_DIRECTORY_BYTES)}")
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as zf:
            infos = zf.infolist()
            start_dir = int(getattr(zf, "start_dir", size))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, OSError, ValueError) as exc:
        raise BadInput(f"{path}: a zip file that is not a readable skops artifact ({exc})") from None
    if len(infos) > MAX_SKOPS_MEMBERS:
        raise BadInput(f"{path}: the skops archive holds {len(infos):,} members; the limit is {MAX_SKOPS_MEMBERS:,}")
    names: set[str] = set()
    total = 0
    for info in infos:
        name = info.orig_filename
        if info.header_offset < 0:
            raise BadInput(f"{path}: member {name!r} starts before the archive")
        if _bad_name(name):
            raise BadInput(f"{path}: member {name!r} is not a plain relative path")
        if name in names:
            raise BadInput(f"{path}: member {name!r} appears twice")
        names.add(name)
        if info.flag_bits & 0x1:
            raise BadInput(f"{path}: member {name!r} is encrypted")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise BadInput(f"{path}: member {name!r} uses zip compression method {info.compress_type}; only stored "
                           "(skops.io.dump's default) and deflated members are accepted")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            raise BadInput(f"{path}: stored (uncompressed) member {name!r} {_sizes(info)}: the sizes must be equal")
        if name == "schema.json" and info.file_size > MAX_SKOPS_SCHEMA_BYTES:
            raise BadInput(f"{path}: member 'schema.json' {_sizes(info)}; the limit is "
                           f"{describe_bytes(MAX_SKOPS_SCHEMA_BYTES)}")
        if (info.file_size > SKOPS_RATIO_CHECKED_ABOVE
                and info.file_size > MAX_SKOPS_COMPRESSION_RATIO * info.compress_size):
            ratio = info.file_size / max(info.compress_size, 1)
            raise BadInput(f"{path}: member {name!r} {_sizes(info)}, a compression ratio of {ratio:,.0f}; the limit "
                           f"is {MAX_SKOPS_COMPRESSION_RATIO} for members over "
                           f"{describe_bytes(SKOPS_RATIO_CHECKED_ABOVE)} (save the model with skops.io.dump's "
                           "default, uncompressed)")
        total += info.file_size
        if total > MAX_SKOPS_BYTES:
            raise BadInput(f"{path}: the skops archive's members declare more than {describe_bytes(MAX_SKOPS_BYTES)} "
                           f"uncompressed in total (the limit) by member {name!r}")
    if "schema.json" not in names:
        raise BadInput(f"{path}: a zip file that is not a skops artifact (no schema.json)")
    # Each member's local header (30 bytes and more) and data must end before the next member or the directory.
    extents = sorted((info.header_offset, info.header_offset + 30 + info.compress_size, info.orig_filename)
                     for info in infos)
    for (_, end_of, name), (next_start, _, next_name) in zip(extents, [*extents[1:], (start_dir, 0, "")],
                                                             strict=True):
        if end_of > next_start:
            what = f"member {next_name!r}" if next_name else "the member list"
            raise BadInput(f"{path}: member {name!r} overlaps {what} (declared sizes do not fit the file)")
    for info in infos:
        if info.compress_type == zipfile.ZIP_DEFLATED:
            _inflate_within_declared(handle, info, path)
    handle.seek(0)
    try:
        with zipfile.ZipFile(handle) as archive:  # every size was checked above: schema.json is at most 64 MiB
            objects = archive.read("schema.json").count(b"{")
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError) as exc:
        raise BadInput(f"{path}: damaged skops archive: its schema.json cannot be read ({exc})") from None
    handle.seek(0)
    if objects > MAX_SKOPS_SCHEMA_NODES:
        raise BadInput(f"{path}: the skops schema.json holds {objects:,} JSON objects; the limit is "
                       f"{MAX_SKOPS_SCHEMA_NODES:,} (skops builds a Python object for each when it loads the model)")


_STEP = 1 * MiB


def _inflate_within_declared(handle: IO[bytes], info: zipfile.ZipInfo, path: Path) -> None:
    """Inflate a deflated member in bounded steps; refuse it unless it yields exactly its declared bytes and CRC."""
    name = info.orig_filename
    handle.seek(info.header_offset)
    local = handle.read(30)
    if len(local) < 30 or local[:4] != b"PK\x03\x04":
        raise BadInput(f"{path}: member {name!r} has no local header where the member list says")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    handle.seek(info.header_offset + 30 + name_length + extra_length)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left, pending, produced, crc = info.compress_size, b"", 0, 0
    while not inflater.eof:
        if not pending:
            pending = handle.read(min(left, _STEP)) if left > 0 else b""
            left -= len(pending)
            if not pending:
                break
        try:
            out = inflater.decompress(pending, _STEP)
        except zlib.error as exc:
            raise BadInput(f"{path}: member {name!r} is not valid deflate data ({exc})") from None
        pending = inflater.unconsumed_tail
        produced += len(out)
        crc = zlib.crc32(out, crc)
        if produced > info.file_size:
            raise BadInput(f"{path}: member {name!r} {_sizes(info)} but inflates to more: refused")
    if not inflater.eof or produced != info.file_size or crc != info.CRC:
        raise BadInput(f"{path}: member {name!r} {_sizes(info)} but inflates to {describe_bytes(produced)}"
                       f"{'' if crc == info.CRC else ' with another CRC-32'}: refused")


def _checked(path: Path) -> IO[bytes]:
    """``path`` open for reading, after :func:`check_skops_archive` (skops then reads this same handle)."""
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise BadInput(f"cannot read skops artifact {path}: {exc.strerror or exc}") from None
    try:
        check_skops_archive(handle, path)
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return handle


def _needed_types(handle: IO[bytes], path: Path) -> list[str]:
    import skops.io as sio

    handle.seek(0)
    try:
        return sorted(set(sio.get_untrusted_types(file=handle)))  # type: ignore[arg-type]  # a file object is fine
    except Exception as exc:  # noqa: BLE001 - a corrupt archive is bad input, whatever skops raises
        raise BadInput(f"{path}: not a readable skops artifact ({exc})") from None


def untrusted_types(path: Path) -> list[str]:
    """Types the skops file needs that neither skops nor :data:`ALLOWED_TYPES` trusts."""
    with _checked(path) as handle:
        return [t for t in _needed_types(handle, path) if t not in ALLOWED_TYPES]


def load_skops(path: Path) -> Any:  # noqa: ANN401
    """The object in a skops artifact: its declared sizes checked first, then its types, then loaded."""
    import skops.io as sio

    with _checked(path) as handle:
        needed = _needed_types(handle, path)
        refused = [t for t in needed if t not in ALLOWED_TYPES]
        if refused:
            raise BadInput(f"{path}: the artifact needs types that are not on the allow-list: {', '.join(refused)}")
        handle.seek(0)
        try:
            return sio.load(handle, trusted=needed)
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


def store_dir(where: Site | Path) -> Path:
    """The site's content-addressed artifact store (:attr:`core.storage.site.Site.artifact_store`)."""
    return (where if isinstance(where, Site) else Site.for_database(where)).artifact_store


def store_copy(where: Site | Path, source: Path, digest: str, fmt: str) -> Path:
    """Copy an artifact into the site's content-addressed store as ``<digest>.<fmt>`` (idempotent)."""
    folder = store_dir(where)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{digest}.{fmt}"
    if not target.exists():
        tmp = target.with_suffix(".partial")
        try:
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        except OSError as exc:  # a full or read-only store: no half-written file left, the store named
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            raise OSError(exc.errno, exc.strerror, str(folder)) from None
    return target


def load_stored(db_path: Site | Path, record: dict[str, Any], *, actor_vouched: bool = False) -> Any:  # noqa: ANN401
    """Load a registered model from the store after re-checking its digest.

    A skops artifact is parsed in this process; a pickle or joblib file is never unpickled here: the digest-checked
    bytes go to an :class:`core.evaluation.sandbox.IsolatedModel`, whose caller must close it — and only when the
    caller says the acting user vouched for these bytes (``actor_vouched``; see ``RegistryService.personal_trusts``,
    the one place that decides it). Another person's trust never suffices.
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
        if not (record["trusted_pickle"] and actor_vouched):
            raise BadInput(f"model {ref} is a {record['artifact_format']} file, which runs code when loaded, and the "
                           "acting user has not vouched for it: refused")
        return load_isolated(raw, record["artifact_format"], ref)
    actual = sha256_file(path)
    if actual != record["artifact_digest"]:
        raise BadInput(f"model {ref}: stored artifact changed: SHA-256 {actual}, expected {record['artifact_digest']}")
    return load_artifact(path, record["artifact_format"], trusted_pickle=bool(record["trusted_pickle"]))


def load_isolated(raw: bytes, fmt: str, what: str) -> Any:  # noqa: ANN401
    """A trusted pickle/joblib model in a sandboxed child process (:mod:`core.evaluation.sandbox`); bad input on
    failure."""
    from core.evaluation.sandbox import IsolatedModel, SandboxError

    try:
        return IsolatedModel(raw, fmt)
    except SandboxError as exc:
        raise BadInput(f"{what}: {exc}") from None


def digest_json(value: Any) -> str:  # noqa: ANN401
    from core.tlog.canonical import canonical_bytes

    return hashlib.sha256(canonical_bytes(value)).hexdigest()


