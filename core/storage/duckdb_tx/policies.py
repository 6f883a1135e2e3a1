"""Policies, evaluations and their attestations (DSSE envelopes) on DuckDB."""

from __future__ import annotations

from typing import Any

from core.storage.duckdb_tx.base import TxBase


class PolicyTx(TxBase):
    """Policies, evaluations and attestations (:class:`core.storage.contract.PolicyStore`)."""

    def get_policy(self, name: str, version: int | None = None) -> dict[str, Any] | None:
        if version is None:
            rows = self._records("SELECT * FROM policies WHERE name = ? ORDER BY version DESC LIMIT 1", [name])
        else:
            rows = self._records("SELECT * FROM policies WHERE name = ? AND version = ?", [name, version])
        return rows[0] if rows else None

    def insert_policy(self, record: dict[str, Any]) -> None:
        self._insert("policies", record)

    def list_policies(self) -> list[dict[str, Any]]:
        return self._records(
            "SELECT name, version, sha256, description, added_by, added_at, seq FROM policies ORDER BY name, version"
        )

    def insert_evaluation(self, record: dict[str, Any]) -> None:
        self._insert("evaluations", record)

    def get_evaluation(self, evaluation_id: str) -> dict[str, Any] | None:
        rows = self._records("SELECT * FROM evaluations WHERE id = ?", [evaluation_id])
        return rows[0] if rows else None

    def list_evaluations(self, model_name: str | None = None, model_version: str | None = None,
                         limit: int = 100) -> list[dict[str, Any]]:
        clause, params = self._where(model_name=model_name, model_version=model_version)
        return self._records(
            "SELECT id, model_name, model_version, artifact_digest, dataset_ref, policy_name, policy_version, "
            f"policy_sha256, passed, result_sha256, evaluated_by, evaluated_at, seq FROM evaluations {clause} "
            "ORDER BY seq DESC LIMIT ?", [*params, limit])

    def insert_attestation(self, record: dict[str, Any]) -> None:
        self._insert("attestations", record)

    def attestations_for(self, model_name: str, model_version: str | None = None) -> list[dict[str, Any]]:
        if model_version is None:
            return self._records("SELECT * FROM attestations WHERE model_name = ? ORDER BY seq", [model_name])
        return self._records("SELECT * FROM attestations WHERE model_name = ? AND model_version = ? ORDER BY seq",
                             [model_name, model_version])
