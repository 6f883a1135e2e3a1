"""Regulator export: the bundle verifies offline with only `cryptography`, and any flipped byte is caught."""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.api.countersign import Countersign
from core.errors import PermissionDenied
from core.evidence.bundle_verify import BundleError, verify_bundle
from tests.app.demo_db import copy_demo, demo_template


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Countersign:
    """A private copy of the session's seeded demo (seeded once per run; the same database seed_demo builds)."""
    folder = tmp_path_factory.mktemp("report-demo")
    return Countersign(copy_demo(demo_template(tmp_path_factory), folder / "demo.duckdb"))


@pytest.fixture(scope="module")
def bundle(demo: Countersign, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("bundles") / "german"
    aude = demo.login("aude", "aude-demo-pass")
    demo.report(aude, "german-credit-scorer", out=out)
    return out


def _python_with_only_cryptography(tmp: Path) -> list[str]:
    """A Python with no site-packages except `cryptography` (and what it needs to import)."""
    import cryptography

    libs = tmp / "only-cryptography"
    libs.mkdir()
    shutil.copytree(Path(cryptography.__file__).parent, libs / "cryptography")
    for extra in ("cffi", "_cffi_backend"):
        try:
            module = __import__(extra)
        except ImportError:
            continue
        origin = Path(module.__file__)
        if origin.name.startswith("__init__"):
            shutil.copytree(origin.parent, libs / origin.parent.name)
        else:
            shutil.copy(origin, libs / origin.name)
    return [sys.executable, "-S", "-c", f"import sys, runpy; sys.path.insert(0, {str(libs)!r}); "
            "sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"]


def test_bundle_layout_and_ledger_event(bundle: Path, demo: Countersign) -> None:
    names = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file()}
    assert {"report.pdf", "report.html", "verify.py", "evidence/checkpoint.txt", "evidence/keys.json",
            "evidence/entries.jsonl", "evidence/manifest.json", "evidence/manifest.dsse.json"} <= names
    assert any(n.startswith("evidence/statements/") for n in names)
    aude = demo.login("aude", "aude-demo-pass")
    assert demo.log(aude, action="report.generated", limit=5)
    html = (bundle / "report.html").read_text()
    # the report tells its reader to verify with an independent copy, and names the bundled verifier's SHA-256
    assert "countersign verify-bundle DIR" in html and "python verify.py ." not in html
    assert hashlib.sha256((bundle / "verify.py").read_bytes()).hexdigest() in html
    summary = verify_bundle(bundle)
    assert summary["entry_set"]["entries"] == summary["entries"] - 1 and summary["entry_set"]["sha256"] in html
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html  # self-contained
    for heading in ("Regulatory index", "Model card", "Evaluations", "Approvals", "Production history",
                    "Ledger integrity", "EU AI Act Art. 72", "ISO/IEC 42001 A.6.2.8", "NIST AI RMF MEASURE 2.11"):
        assert heading in html


def test_verify_py_runs_with_only_cryptography(bundle: Path, tmp_path: Path) -> None:
    cmd = _python_with_only_cryptography(tmp_path)
    ok = subprocess.run([*cmd, str(bundle / "verify.py"), str(bundle)], capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("OK:")
    probe = subprocess.run([*cmd, "-", ""], input="import duckdb", capture_output=True, text=True)
    assert probe.returncode != 0  # the interpreter really lacks the project's dependencies


def test_pinned_service_key(bundle: Path, demo: Countersign) -> None:
    vkey = demo.keys()["service"]["verifier_key"]
    assert verify_bundle(bundle, vkey)["service_key_pinned"]
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from core.identity.keys import public_bytes
    from core.tlog.signed_note import verifier_key

    other = verifier_key("countersign.demo/ledger", public_bytes(Ed25519PrivateKey.generate()))
    with pytest.raises(BundleError, match="checkpoint"):
        verify_bundle(bundle, other)


def test_flipping_any_byte_of_any_file_fails(bundle: Path, tmp_path: Path) -> None:
    """Every file is covered: digests for most, signatures (canonical base64 included) for the manifest."""
    copy = tmp_path / "flip"
    shutil.copytree(bundle, copy)
    rng = random.Random(1)
    checked = 0
    for path in sorted(p for p in copy.rglob("*") if p.is_file()):
        data = path.read_bytes()
        signed = path.name in ("manifest.json", "manifest.dsse.json", "checkpoint.txt")
        positions = {0, len(data) - 1} | set(rng.sample(range(len(data)), min(12, len(data))))
        if signed:  # base64 tails are where a lax decoder would accept a flip
            positions |= set(range(max(0, len(data) - 160), len(data))) | set(rng.sample(range(len(data)),
                                                                                     min(60, len(data))))
        for position in sorted(positions):
            flipped = bytearray(data)
            flipped[position] ^= 0x01
            path.write_bytes(bytes(flipped))
            with pytest.raises(BundleError):
                verify_bundle(copy)
            checked += 1
        path.write_bytes(data)
    verify_bundle(copy)  # restored: intact again
    assert checked > 300


def test_cli_verify_bundle_names_the_failure(bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    (copy / "report.html").write_text("<html>altered</html>")
    result = subprocess.run([sys.executable, "-m", "cli", "verify-bundle", str(copy)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 1 and "report.html" in result.stderr
    assert subprocess.run([sys.executable, "-m", "cli", "verify-bundle", str(bundle)], capture_output=True,
                          timeout=120).returncode == 0


def test_pdf_text_is_extractable_and_tables_stay_on_the_page(bundle: Path, tmp_path: Path) -> None:
    from pypdf import PdfReader

    reader = PdfReader(str(bundle / "report.pdf"))
    text = "".join(page.extract_text() for page in reader.pages)
    for needle in ("Audit report", "german-credit-scorer", "Regulatory index", "Ledger integrity"):
        assert needle in text
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    subprocess.run(["pdftoppm", "-r", "30", "-png", str(bundle / "report.pdf"), str(tmp_path / "page")],
                   check=True, timeout=300)
    from PIL import Image

    pages = sorted(tmp_path.glob("page*.png"))
    assert len(pages) == len(reader.pages)
    for png in pages:
        image = Image.open(png).convert("L")
        width, height = image.size
        margin = int(width * 0.04)  # the right margin (1.5 cm of 29.7 cm ≈ 5 %) must stay blank
        strip = image.crop((width - margin, 0, width, height))
        assert strip.getextrema()[0] > 200, f"{png.name}: something is drawn into the right margin (cut off)"


def test_since_checkpoint_adds_a_consistency_proof(demo: Countersign, tmp_path: Path) -> None:
    aude = demo.login("aude", "aude-demo-pass")
    earlier = tmp_path / "earlier.txt"
    earlier.write_text(demo.checkpoint(aude)["note"])
    demo.grant(demo.login("ada", "ada-demo-pass"), "aude", "compliance_officer")
    out = tmp_path / "since"
    demo.report(aude, "german-credit-scorer@1", out=out, since_checkpoint=str(earlier))
    summary = verify_bundle(out)
    assert summary["consistency"]["from_size"] < summary["consistency"]["to_size"]
    doc = json.loads((out / "evidence" / "consistency.json").read_text())
    assert doc["proof"]


def test_data_scientist_may_not_export(demo: Countersign, tmp_path: Path) -> None:
    with pytest.raises(PermissionDenied):
        demo.report(demo.login("dana", "dana-demo-pass"), "german-credit-scorer", out=tmp_path / "no")


def test_card_exports(demo: Countersign) -> None:
    import yaml

    aude = demo.login("aude", "aude-demo-pass")
    markdown = demo.export_card(aude, "german-credit-scorer@1", "md")
    _, front, body = markdown.split("---", 2)
    meta = yaml.safe_load(front)
    result = meta["model-index"][0]["results"][0]
    assert meta["model-index"][0]["name"] == "german-credit-scorer@1"
    assert {m["type"] for m in result["metrics"]} >= {"roc_auc", "demographic_parity_ratio"}
    assert "## Intended use" in body and "## Ethical considerations" in body
    toolkit = json.loads(demo.export_card(aude, "german-credit-scorer@1", "json"))
    assert toolkit["schema_version"] == "0.0.2"
    assert set(toolkit) == {"schema_version", "model_details", "model_parameters", "quantitative_analysis",
                            "considerations"}
    assert toolkit["quantitative_analysis"]["performance_metrics"]
    html = demo.export_card(aude, "german-credit-scorer@1", "html")
    assert html.startswith("<!DOCTYPE html>") and "Quantitative analyses" in html
