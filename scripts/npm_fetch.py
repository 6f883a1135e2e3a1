"""Fetch files of one pinned npm package from the npm registry into a folder, checking the registry's integrity.

    python scripts/npm_fetch.py NAME VERSION INTEGRITY TARGET [MEMBER ...]

``INTEGRITY`` is the registry's published ``sha512-…`` of the tarball; ``MEMBER`` names files inside its
``package/`` folder (all files when none are named; ``NAME+x`` makes that one executable, as npm tarballs need not
record it). Files named ``LICENSE*`` are always kept. Nothing is fetched
when ``TARGET/VERSION`` already names this version; a fetch that fails leaves the target as it was and says that the
tests needing it will be skipped (exit 0); a tarball that does not match its integrity is an error (exit 1).
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


def main(argv: list[str]) -> int:
    name, version, integrity, target_name, *named = argv
    members = [m.removesuffix("+x") for m in named]
    executable = {m.removesuffix("+x") for m in named if m.endswith("+x")}
    target = Path(target_name)
    stamp = target / "VERSION"
    if stamp.exists() and stamp.read_text().strip() == version:
        return 0
    url = f"https://registry.npmjs.org/{name}/-/{name.rpartition('/')[2]}-{version}.tgz"
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            data = response.read()
    except OSError as exc:
        print(f"bootstrap: cannot fetch {url} ({exc}); the tests that need {name} will be skipped", file=sys.stderr)
        return 0
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if actual != expected:
        print(f"bootstrap: {url} does not match its registry integrity {integrity} (got {algorithm}-{actual})",
              file=sys.stderr)
        return 1
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
