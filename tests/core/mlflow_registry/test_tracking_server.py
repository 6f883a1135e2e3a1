"""Issue 18 over HTTP: a real ``mlflow server`` (its REST API and artifact proxy) as an organisation runs it.

The server is MLflow's own, started in a subprocess on a free local port with a SQLite backend and a local artifact
destination; models are logged through it, imported from it, and its aliases checked through it. The tracking URI is
given with a user and password in it: they reach MLflow's client, never the ledger.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.api.countersign import Countersign
from core.errors import BadInput
from core.inputs.limits import MAX_MLFLOW_MODEL_BYTES
from core.mlflow_registry.names import countersign_name
from tests.core.mlflow_registry.test_import import login
from tests.mlflow_fixtures import MlflowStore, german_model


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _mlflow_template: Path) -> Iterator[str]:
    root = tmp_path / "server"
    root.mkdir()
    shutil.copyfile(_mlflow_template, root / "mlflow.db")
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "art")],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:  # noqa: S310 - local test server
                    if response.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mlflow server did not start") from None
                time.sleep(0.3)
        monkeypatch.chdir(tmp_path)
        monkeypatch.setenv("MLFLOW_TRACKING_URI", url)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_import_and_check_through_a_running_tracking_server(populated: Countersign, server: str,
                                                            german_frame: tuple[Path, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow.artifacts
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=server)
    store = MlflowStore(server, Path("."), client, client.create_experiment("credit"))
    frame = german_frame[1]
    store.log_version("fraud-score", german_model(frame), frame, german_frame[0])
    dana = login(populated, "dana")

    with_credentials = server.replace("http://", "http://svc-user:s3cret-token@")
    result = populated.import_mlflow(dana, with_credentials)
    assert result["tracking_uri"] == server
    assert [(i["model"], i["format"]) for i in result["imported"]] == [("fraud-score@1", "skops")]
    ledger = populated._read(lambda tx: [r.payload for r in tx.ledger_entries(range(1, tx.ledger_max_seq() + 1))])
    assert not any("s3cret" in p or "svc-user" in p for p in ledger)

    client.set_registered_model_alias("fraud-score", "champion", "1")
    [finding] = populated.check_mlflow(login(populated, "lee"))["findings"]
    assert (finding["kind"], finding["model"], finding["tracking_uri"]) == (
        "unapproved", f"{countersign_name('fraud-score')}@1", server)

    # A version folder beyond the size limit is refused from the server's listing, before a byte is downloaded.
    store.log_version("huge-model", german_model(frame, c=0.5), frame, german_frame[0])
    where = client.get_model_version_download_uri("huge-model", "1")
    assert where.startswith("mlflow-artifacts:/"), where
    with (Path("server/art") / where.removeprefix("mlflow-artifacts:/") / "weights.bin").open("wb") as handle:
        handle.truncate(MAX_MLFLOW_MODEL_BYTES + 1)  # sparse: no disk
    before = populated._read(lambda tx: tx.ledger_max_seq())
    downloads: list[str] = []
    real_download = mlflow.artifacts.download_artifacts

    def watched(**kwargs: Any) -> str:  # noqa: ANN401 - MLflow's own download, counted
        downloads.append(kwargs["artifact_uri"])
        return str(real_download(**kwargs))

    monkeypatch.setattr(mlflow.artifacts, "download_artifacts", watched)
    with pytest.raises(BadInput, match="'huge-model' version 1: the MLflow model folder holds more than 2048 MiB"):
        populated.import_mlflow(dana, server, model="huge-model")
    assert downloads == [] and populated._read(lambda tx: tx.ledger_max_seq()) == before
