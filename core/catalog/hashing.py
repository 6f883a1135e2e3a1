"""Streamed SHA-256 content digests, identical to what ``sha256sum`` prints.

* A file's digest is SHA-256 of its bytes, read in 4 MiB blocks (constant memory for a 10 GB file).
* A folder of Parquet files is identified by the SHA-256 of its manifest: one ``<hex digest>  <relative path>\\n``
  line per ``*.parquet`` file (hidden ones included), sorted bytewise by relative POSIX path — ``sha256sum`` output,
  so an outsider can reproduce it with ``cd DIR && find . -type f -name '*.parquet' | sed 's|^\\./||' | LC_ALL=C sort
  | while IFS= read -r f; do sha256sum "$f"; done | sha256sum`` (for names without backslashes or newlines, which
  ``sha256sum`` escapes).
  The files are hashed on parallel threads (``hashlib`` releases the GIL on large blocks).
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

BLOCK = 4 * 1024 * 1024


@dataclass(frozen=True)
class FileDigest:
    path: str  # relative POSIX path inside a folder, or the file name
    sha256: str
    size: int


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as fh:
        buffer = bytearray(BLOCK)
        view = memoryview(buffer)
        while True:
            n = fh.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
    return digest.hexdigest()


def parquet_files(folder: Path) -> list[Path]:
    """The ``*.parquet`` files below ``folder``, sorted by relative POSIX path (bytewise, like ``LC_ALL=C sort``)."""
    files = [p for p in folder.rglob("*.parquet") if p.is_file()]
    return sorted(files, key=lambda p: p.relative_to(folder).as_posix().encode("utf-8"))


def manifest_digest(entries: list[FileDigest]) -> str:
    manifest = "".join(f"{e.sha256}  {e.path}\n" for e in entries)
    return hashlib.sha256(manifest.encode("utf-8")).hexdigest()


def digest_path(path: Path, workers: int | None = None) -> tuple[str, list[FileDigest]]:
    """Digest of a file, or of a folder of Parquet files with the per-file digests."""
    if path.is_dir():
        files = parquet_files(path)
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            digests = list(pool.map(sha256_file, files))
        entries = [FileDigest(f.relative_to(path).as_posix(), d, f.stat().st_size)
                   for f, d in zip(files, digests, strict=True)]
        return manifest_digest(entries), entries
    return sha256_file(path), []
