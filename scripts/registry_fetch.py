"""Fetch files of one pinned package from a package registry into a folder, checking the digest it publishes.

    python scripts/registry_fetch.py npm NAME VERSION INTEGRITY TARGET [MEMBER ...]
    python scripts/registry_fetch.py sdist URL SHA256 TARGET MEMBER [MEMBER ...]

``npm``: the tarball of ``NAME@VERSION`` from the npm registry, checked against its published ``INTEGRITY``
(``sha512-…``); ``MEMBER`` names files inside its ``package/`` folder (all files when none are named; ``NAME+x``
makes that one executable, as npm tarballs need not record it); files named ``LICENSE*`` are always kept; the
target is replaced whole. Nothing is fetched when ``TARGET/VERSION`` already names this version.

``sdist``: a source distribution from files.pythonhosted.org (``URL`` as the index's simple page lists it), checked
against the ``SHA256`` the index publishes; each ``MEMBER`` is a path inside the archive's top folder, written to
``TARGET`` under its base name. Nothing is fetched when ``TARGET/SOURCE`` already names this URL.

A fetch that fails leaves the target as it was and says that the tests needing it will be skipped (exit 0); an
archive that does not match its digest is an error (exit 1).
"""

from __future__ import annotations

import base64
import hashlib
import io
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from pathlib import Path


class _Mismatch(Exception):
    pass


def _fetch(url: str, algorithm: str, expected: str, *, base64_digest: bool, what: str) -> bytes | None:
    """The bytes at ``url`` if their digest is ``expected`` (hex, or base64 as npm publishes it); ``None`` when the
    registry cannot be reached (the tests needing ``what`` then skip); :class:`_Mismatch` otherwise."""
    try:
        with urllib.request.urlopen(url, timeout=300) as response:  # noqa: S310 - a pinned registry address
            data: bytes = response.read()
    except OSError as exc:
        print(f"bootstrap: cannot fetch {url} ({exc}); the tests that need {what} will be skipped", file=sys.stderr)
        return None
    digest = hashlib.new(algorithm, data).digest()
    actual = base64.b64encode(digest).decode() if base64_digest else digest.hex()
    if actual != expected:
        raise _Mismatch(f"bootstrap: {url} does not match its published {algorithm} {expected} (got {actual})")
    return data


def npm(name: str, version: str, integrity: str, target_name: str, *named: str) -> int:
    members = [m.removesuffix("+x") for m in named]
    executable = {m.removesuffix("+x") for m in named if m.endswith("+x")}
    target = Path(target_name)
    stamp = target / "VERSION"
    if stamp.exists() and stamp.read_text().strip() == version:
        return 0
    url = f"https://registry.npmjs.org/{name}/-/{name.rpartition('/')[2]}-{version}.tgz"
    algorithm, _, expected = integrity.partition("-")
    data = _fetch(url, algorithm, expected, base64_digest=True, what=name)
    if data is None:
        return 0
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            for member in archive.getmembers():
                inside = member.name.removeprefix("package/")
                wanted = not members or inside in members or Path(inside).name.startswith("LICENSE")
                if not member.isfile() or not wanted or member.name == inside or ".." in Path(inside).parts:
                    continue
                out = staging / inside
                out.parent.mkdir(parents=True, exist_ok=True)
                source = archive.extractfile(member)
                assert source is not None
                out.write_bytes(source.read())
                out.chmod(0o755 if inside in executable or member.mode & 0o111 else 0o644)
        (staging / "VERSION").write_text(version + "\n")
        staging.chmod(0o755)
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return 0


def sdist(url: str, sha256: str, target_name: str, *members: str) -> int:
    target = Path(target_name)
    stamp = target / "SOURCE"
    if stamp.exists() and stamp.read_text().strip() == url:
        return 0
    data = _fetch(url, "sha256", sha256, base64_digest=False, what="it")
    if data is None:
        return 0
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        top = archive.getnames()[0].split("/")[0]
        for member in members:
            source = archive.extractfile(f"{top}/{member}")
            if source is None:
                print(f"bootstrap: {url} has no {member}", file=sys.stderr)
                return 1
            (target / Path(member).name).write_bytes(source.read())
    stamp.write_text(url + "\n")
    return 0


def main(argv: list[str]) -> int:
    kind, *rest = argv
    try:
        return {"npm": npm, "sdist": sdist}[kind](*rest)
    except _Mismatch as mismatch:
        print(mismatch, file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
