"""Fetch files from one pinned source distribution on the Python package index, checking its SHA-256.

    python scripts/sdist_fetch.py URL SHA256 TARGET MEMBER [MEMBER ...]

``URL`` is the sdist's address on files.pythonhosted.org (as the index's simple page lists it) and ``SHA256`` the
digest the index publishes beside it; each ``MEMBER`` is a path inside the archive's top folder, written to
``TARGET`` under its base name. Nothing is fetched when ``TARGET/SOURCE`` already names this URL; a fetch that fails
leaves the target as it was and says that the tests needing it will be skipped (exit 0); an archive that does not
match its digest is an error (exit 1).
"""

from __future__ import annotations

import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path


def main(argv: list[str]) -> int:
    url, sha256, target_name, *members = argv
    target = Path(target_name)
    stamp = target / "SOURCE"
    if stamp.exists() and stamp.read_text().strip() == url:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=300) as response:
            data = response.read()
    except OSError as exc:
        print(f"bootstrap: cannot fetch {url} ({exc}); the tests that need it will be skipped", file=sys.stderr)
        return 0
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        print(f"bootstrap: {url} does not match its published SHA-256 {sha256} (got {actual})", file=sys.stderr)
        return 1
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


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
