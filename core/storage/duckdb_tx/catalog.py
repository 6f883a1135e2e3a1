"""The catalog aggregate on DuckDB: datasets, models (with the pickle trusts vouched for them) and documents."""

from __future__ import annotations

from typing import Any

from core.storage.duckdb_tx.base import TxBase


class CatalogTx(TxBase):
    """Datasets, models and documents (:class:`core.storage.contract.CatalogStore`)."""

    def get_dataset(self, name: str, version: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM datasets WHERE name = ? AND version = ?", [name, version])
        return rows[0] if rows else None

    def insert_dataset(self, record: dict[str, Any]) -> None:
        self._insert("datasets", record)

    def list_datasets(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT name, version, digest, format, row_count, size_bytes, registered_by, registered_at "
            "FROM datasets ORDER BY name, version"
        )

    def get_model(self, name: str, version: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM models WHERE name = ? AND version = ?", [name, version])
        return rows[0] if rows else None

    def insert_model(self, record: dict[str, Any]) -> None:
        self._insert("models", record)

    def list_models(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT name, version, external, artifact_digest, estimator, risk_tier, owner, trusted_pickle, "
            "registered_at FROM models ORDER BY name, version"
        )

    def pickle_trusts(self, artifact_sha256: str) -> list[dict[str, Any]]:
        """Who vouched for running this exact pickle/joblib file (``model.pickle_trusted`` entries), oldest first."""
        rows = self._all("SELECT seq, ts, actor FROM ledger WHERE action = 'model.pickle_trusted' AND "
                         f"{self._json_text('payload', 'artifact_sha256')} = ? ORDER BY seq", [artifact_sha256])
        return [{"seq": int(r[0]), "ts": r[1], "name": r[2]} for r in rows]

    def latest_document(self, kind: str, subject: str) -> dict[str, Any] | None:
        rows = self._records(
            "SELECT * FROM documents WHERE kind = ? AND subject = ? ORDER BY revision DESC LIMIT 1", [kind, subject]
        )
        return rows[0] if rows else None

    def document_history(self, kind: str, subject: str) -> list[dict[str, Any]]:
        return self._records(
            "SELECT * FROM documents WHERE kind = ? AND subject = ? ORDER BY revision", [kind, subject]
        )

    def insert_document(self, record: dict[str, Any]) -> None:
        self._insert("documents", record)
