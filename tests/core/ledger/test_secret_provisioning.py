"""The service secret file made at ``init``: never half-written, never left empty, never in a folder left behind."""

from __future__ import annotations

import errno
import io
from pathlib import Path

import pytest

from core.ledger import service_key
from core.storage.site import Site


class _FullDisk(io.StringIO):
    def write(self, _text: str) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_secret_that_cannot_be_written_leaves_no_file_and_no_folder(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COUNTERSIGN_SERVICE_SECRET", raising=False)
    monkeypatch.delenv("COUNTERSIGN_SERVICE_SECRET_FILE", raising=False)
    site = Site.for_database(tmp_path / "new" / "deeper" / "x.duckdb")
    real_fdopen = service_key.os.fdopen

    def full(fd: int, *args: object, **kwargs: object) -> io.StringIO:
        service_key.os.close(fd)
        return _FullDisk()

    with monkeypatch.context() as patched:
        patched.setattr(service_key.os, "fdopen", full)
        with pytest.raises(OSError, match="No space left"):
            service_key.provision_secret(site)
    assert list(tmp_path.iterdir()) == []  # no empty secret file (it would block the next init), no folders
    assert service_key.os.fdopen is real_fdopen
    secret, created = service_key.provision_secret(site)  # with space again, it works
    assert secret and created[-1] == site.service_secret_file and site.service_secret_file.read_text().strip()
