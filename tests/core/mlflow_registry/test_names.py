"""MLflow names and URIs as Countersign records them: mapped names, store labels, secrets kept out of the ledger."""

from __future__ import annotations

import os
import urllib.parse

import pytest
from hypothesis import given, strategies as st

from core.catalog.datasets import parse_ref
from core.errors import BadInput
from core.mlflow_registry.names import countersign_name, redact, server_label, strip_url, url_secrets, without_secrets

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


@pytest.mark.parametrize("uri", [
    "https://alice:Hun/T3r2@mlflow.example.com/", "postgresql://bob:Pa/Ss9@127.0.0.1:1/db",
    "http://alice:Pa#Ss9@127.0.0.1:1/", "http://alice:Pa?Ss9@mlflow.example/", "https://T0k/en==@mlflow.example/x"])
def test_a_server_uri_whose_credentials_cannot_be_told_apart_is_refused_without_quoting_them(uri: str) -> None:
    with pytest.raises(BadInput, match="cannot be told from its path") as refused:
        server_label(uri)
    assert not any(secret in str(refused.value) for secret in ("Hun", "T3r2", "Pa", "Ss9", "T0k", "alice", "bob"))
    assert "Ss9" not in redact(f"failed: {uri}", url_secrets(uri)) and "T3r2" not in without_secrets(uri)


def test_a_file_uri_naming_another_host_is_refused() -> None:
    with pytest.raises(BadInput, match="names another host"):
        server_label("file://otherhost/srv/mlruns")
    assert server_label("file://localhost/srv/mlruns") == "file:///srv/mlruns"


def test_secrets_are_redacted_however_a_library_spells_them() -> None:
    uri = "http://127.0.0.1:1/?a=1 extra&token=T0k/+="
    message = "Max retries exceeded with url: /?a=1%20extra&token=T0k/%2B%3D/api/2.0/mlflow/x (Caused by ...)"
    assert "extra" not in redact(message, url_secrets(uri)) and "T0k" not in redact(message, url_secrets(uri))


_SECRET_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), max_size=12)


@given(user=_SECRET_TEXT, password=_SECRET_TEXT, path=st.sampled_from(["", "/", "/base", "/a@b/c"]),
       scheme=st.sampled_from(["http", "https", "postgresql", "mysql"]))
def test_no_password_survives_a_label_a_recorded_source_or_a_message(user: str, password: str, path: str,
                                                                     scheme: str) -> None:
    secret = f"Zq{password}Qz"
    uri = f"{scheme}://{user}:{secret}@mlflow.example:5000{path}"
    try:
        label = server_label(uri)
    except BadInput as refused:
        assert secret not in str(refused)
    else:
        assert secret not in label
    assert secret not in without_secrets(uri) and secret not in strip_url(uri)
    for shown in (uri, urllib.parse.quote(uri, safe=":/@")):
        assert secret not in redact(f"API request to {shown} failed", url_secrets(uri))


@pytest.mark.parametrize("source", [
    '{"url": "see https://alice:PWONE111@h/x"}', '{"https://bob:PWONE111@h/x": "k"}',
    "scp alice:PWONE111@host:/data.csv", '{"url": "https:u:PWONE111@h/x"}',
    '{"url": [{"y": "text s3://AKIA:PWONE111@bucket/k"}]}', "https://svc:pa ss@PWONE111@h.example/g.csv"])
def test_credentials_anywhere_in_a_dataset_source_are_not_recorded(source: str) -> None:
    assert "PWONE111" not in without_secrets(source)


@pytest.mark.parametrize("uri", ["http:u:SECRETA1@127.0.0.1:1/", "http:/u:SECRETA1@127.0.0.1:1/",
                                 "databricks://u:SECRETA1@host", "http://u:SE\tCRETA1@127.0.0.1:1/"])
def test_tracking_uris_that_would_show_a_secret_are_refused_without_it(uri: str) -> None:
    with pytest.raises(BadInput) as refused:
        server_label(uri)
    assert "SECRET" not in str(refused.value) and "CRETA1" not in str(refused.value)
