"""MLflow names and URIs as Countersign records them: mapped names, store labels, secrets kept out of the ledger."""

from __future__ import annotations

import os

import pytest

from core.catalog.datasets import parse_ref
from core.mlflow_registry.names import countersign_name, redact, server_label, without_secrets

CWD = os.getcwd()


@pytest.mark.parametrize("given, label", [
    ("sqlite:////tmp/x.db", "sqlite:////tmp/x.db"),
    ("sqlite:////tmp//a/../x.db", "sqlite:////tmp/x.db"),  # one store, one label
    ("sqlite:///rel.db", f"sqlite:///{CWD}/rel.db"),
    ("mlruns", f"{CWD}/mlruns"),
    ("./mlruns", f"{CWD}/mlruns"),
    ("file:mlruns", f"file://{CWD}/mlruns"),
    ("file:./mlruns", f"file://{CWD}/mlruns"),
    ("file:///srv/mlruns/", "file:///srv/mlruns"),
    ("http://alice:S3cret@mlflow.example:5000/base?token=t0k#frag", "http://mlflow.example:5000/base"),
    ("https://t0k@mlflow.example/", "https://mlflow.example/"),
    ("databricks", "databricks"),
    ("databricks://profile", "databricks://profile"),
])
def test_store_labels_are_absolute_and_carry_no_secret(given: str, label: str) -> None:
    assert server_label(given) == label
    assert server_label(label) == label  # stable


def test_secrets_never_reach_a_message_or_a_recorded_source() -> None:
    message = redact("API request to http://alice:S3cret@127.0.0.1:9/api/2.0/x?token=abc failed")
    assert "S3cret" not in message and "abc" not in message and "127.0.0.1:9/api/2.0/x" in message
    source = without_secrets('{"url": "https://alice:Pa55@h.example/g.csv?X-Amz-Signature=SIG", "n": 1}')
    assert source == '{"n": 1, "url": "https://h.example/g.csv"}'
    assert without_secrets('{"uri": "/data/a.csv"}') == '{"uri": "/data/a.csv"}'


@pytest.mark.parametrize("name", ["credit risk", "modèle", "a//b", "x/", "-lead", "q'\"\\", "\x1b[2J", "a" * 300])
def test_every_mlflow_name_maps_to_a_valid_countersign_name(name: str) -> None:
    mapped = countersign_name(name)
    assert parse_ref(f"{mapped}@1").name == mapped and mapped != name
    assert countersign_name(name.upper()) != mapped or name.upper() == name


def test_a_valid_name_is_kept() -> None:
    assert countersign_name("fraud-score_v2.1") == "fraud-score_v2.1"
