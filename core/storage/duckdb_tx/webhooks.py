"""The webhooks outbox on DuckDB: enqueued in the transaction of the change, delivered after commit."""

from __future__ import annotations

from typing import Any

from core.storage.duckdb_tx.base import TxBase


class WebhookTx(TxBase):
    """The webhooks outbox (:class:`core.storage.contract.WebhookOutbox`)."""

    def enqueue_webhook(self, record: dict[str, Any]) -> None:
        self._insert("webhook_outbox", record)

    def undelivered_webhooks(self, limit: int = 100) -> list[dict[str, Any]]:
        return self._records("SELECT * FROM webhook_outbox WHERE delivered_at IS NULL ORDER BY seq LIMIT ?", [limit])

    def mark_webhook(self, webhook_id: str, delivered_at: str | None, error: str | None) -> None:
        self.con.execute("UPDATE webhook_outbox SET attempts = attempts + 1, delivered_at = ?, last_error = ? "
                         "WHERE id = ?", [delivered_at, error, webhook_id])
