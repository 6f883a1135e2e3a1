"""Content digests are exactly what ``sha256sum`` (and a documented shell pipeline for folders) prints."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.catalog.hashing import BLOCK, digest_path, manifest_digest, parquet_files, sha256_file

ROOT = Path(__file__).resolve().parents[3]
ADULT = ROOT / "data" / "adult" / "adult.data"
PIPELINE = ("find . -type f -name '*.parquet' | sed 's|^\\./||' | LC_ALL=C sort "
            "| while IFS= read -r f; do sha256sum \"$f\"; done | sha256sum")


def sha256sum(path: Path) -> str:
    out = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout
    return out.split()[0]


def shell_manifest_digest(folder: Path) -> str:
    """The outsider's recipe from core.catalog.hashing's docstring, run by bash in the folder."""
    out = subprocess.run(["bash", "-c", PIPELINE], cwd=folder, capture_output=True, text=True, check=True).stdout
    digest, dash = out.split()
    assert dash == "-"
    return digest


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.fixture
def parquet_folder(tmp_path: Path) -> Path:
    """Three Parquet files (one in a subfolder, names that sort differently in C and other locales) plus noise."""
    folder = tmp_path / "parts"
    (folder / "year=2024").mkdir(parents=True)
    for rel, start in (("Zeta.parquet", 0), ("alpha-1.parquet", 100), ("year=2024/part.0.parquet", 200)):
        table = pa.table({"id": list(range(start, start + 50)),
                          "label": [f"row {i}" for i in range(start, start + 50)],
                          "score": [i / 7 for i in range(start, start + 50)]})
        pq.write_table(table, folder / rel)
    (folder / "README.txt").write_text("not part of the dataset\n")
    (folder / "year=2024" / "_SUCCESS").write_bytes(b"")
    return folder


def test_sha256_file_of_the_real_adult_data_matches_sha256sum() -> None:
    assert sha256_file(ADULT) == sha256sum(ADULT)


@pytest.mark.parametrize("size", [0, 1, 255, BLOCK - 1, BLOCK, 2 * BLOCK + 17])
def test_sha256_file_of_binary_files_matches_sha256sum(tmp_path: Path, size: int) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(os.urandom(size))
    assert sha256_file(path) == sha256sum(path)


def test_a_single_file_has_no_manifest_entries(tmp_path: Path) -> None:
    path = tmp_path / "one.bin"
    path.write_bytes(bytes(range(256)) * 3)
    digest, entries = digest_path(path)
    assert digest == sha256sum(path) and entries == []


def test_folder_digest_is_reproduced_by_the_shell_pipeline(parquet_folder: Path) -> None:
    digest, entries = digest_path(parquet_folder)
    assert digest == shell_manifest_digest(parquet_folder)
    assert [e.path for e in entries] == ["Zeta.parquet", "alpha-1.parquet", "year=2024/part.0.parquet"]
    for entry in entries:
        file = parquet_folder / entry.path
        assert entry.sha256 == sha256sum(file)
        assert entry.size == file.stat().st_size
    assert manifest_digest(entries) == digest
    assert [p.relative_to(parquet_folder).as_posix() for p in parquet_files(parquet_folder)] == [
        e.path for e in entries]


def test_folder_digest_does_not_depend_on_worker_count(parquet_folder: Path) -> None:
    assert digest_path(parquet_folder, workers=1)[0] == digest_path(parquet_folder, workers=8)[0]


def test_non_parquet_files_do_not_count(parquet_folder: Path) -> None:
    before = digest_path(parquet_folder)[0]
    (parquet_folder / "README.txt").write_text("changed\n")
    (parquet_folder / "notes.csv").write_text("a,b\n1,2\n")
    assert digest_path(parquet_folder)[0] == before


def test_digest_changes_when_any_one_byte_of_any_file_changes(parquet_folder: Path, tmp_path: Path) -> None:
    original = digest_path(parquet_folder)[0]
    for rel in ("Zeta.parquet", "alpha-1.parquet", "year=2024/part.0.parquet"):
        copy = tmp_path / f"copy-{rel.replace('/', '_')}"
        shutil.copytree(parquet_folder, copy)
        target = copy / rel
        flip_byte(target, target.stat().st_size // 2)
        changed, entries = digest_path(copy)
        assert changed != original, rel
        assert changed == shell_manifest_digest(copy)
        assert {e.path for e in entries if e.sha256 != sha256sum(parquet_folder / e.path)} == {rel}


def test_digest_changes_when_a_file_is_renamed(parquet_folder: Path) -> None:
    original = digest_path(parquet_folder)[0]
    (parquet_folder / "alpha-1.parquet").rename(parquet_folder / "alpha-2.parquet")
    renamed = digest_path(parquet_folder)[0]
    assert renamed != original and renamed == shell_manifest_digest(parquet_folder)


def test_file_digest_changes_with_one_flipped_byte(tmp_path: Path) -> None:
    path = tmp_path / "adult.data"
    shutil.copyfile(ADULT, path)
    before = sha256_file(path)
    flip_byte(path, 12345)
    after = sha256_file(path)
    assert after != before and after == sha256sum(path)


@pytest.mark.parametrize("rel", [".staged.parquet", "with space.parquet"])
def test_shell_pipeline_agrees_for_awkward_names(parquet_folder: Path, rel: str) -> None:
    shutil.copyfile(parquet_folder / "Zeta.parquet", parquet_folder / rel)
    digest, entries = digest_path(parquet_folder)
    assert rel in [e.path for e in entries]
    assert digest == shell_manifest_digest(parquet_folder)
