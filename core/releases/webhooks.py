"""Outbound webhooks: JSON POSTs signed with HMAC-SHA256, delivered from a transactional outbox.

A notification is written to ``webhook_outbox`` in the same transaction as the action it reports (request opened,
approved, rejected, model suspended, revalidation required), so it can never be lost or sent for an action that
rolled back. Delivery happens afterwards on a background thread with retries and backoff; a failed delivery never
blocks or undoes the action, and undelivered notifications are retried by the next process that flushes the outbox
(the app server does so continuously).

Configuration per deployment: ``COUNTERSIGN_WEBHOOK_URL`` (one or more URLs, comma-separated) and
``COUNTERSIGN_WEBHOOK_SECRET``. Each POST carries ``X-Countersign-Event``, ``X-Countersign-Delivery`` (the outbox id)
and ``X-Countersign-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes under the secret>``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import threading
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from core.ledger.chain import utc_now
from core.storage.contract import Store, Transaction as Tx

EVENTS = ("promotion.requested", "promotion.approved", "promotion.rejected", "promotion.invalidated",
          "promotion.changes_requested", "promotion.changes_answered", "model.suspended",
          "model.revalidation_required")
MAX_ATTEMPTS = 1000  # delivery rounds before a notification is abandoned (each round retries with backoff)


def flush_wait() -> float:
    """Seconds an action waits for its notifications to be delivered (``COUNTERSIGN_WEBHOOK_WAIT``, default 2)."""
    return float(os.environ.get("COUNTERSIGN_WEBHOOK_WAIT", "2"))


def urls() -> list[str]:
    return [u.strip() for u in os.environ.get("COUNTERSIGN_WEBHOOK_URL", "").split(",") if u.strip()]


def enqueue(tx: Tx, event: str, body: dict[str, Any], seq: int) -> None:
    """Record a notification in the caller's transaction (no-op when no webhook is configured)."""
    if not urls():
        return
    payload = {"event": event, "ledger_seq": seq, "at": utc_now(), **body}
    tx.enqueue_webhook({"id": uuid.uuid4().hex, "event": event, "body": json.dumps(payload, sort_keys=True),
                        "created_at": payload["at"], "attempts": 0, "seq": seq})


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def post(url: str, event: str, delivery: str, body: bytes, timeout: float = 5.0) -> None:
    secret = os.environ.get("COUNTERSIGN_WEBHOOK_SECRET", "")
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "countersign-webhooks/1",
        "X-Countersign-Event": event, "X-Countersign-Delivery": delivery,
        "X-Countersign-Signature": signature(secret, body)})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured by the operator
        if response.status >= 300:
            raise urllib.error.HTTPError(url, response.status, "unexpected status", response.headers, None)


def deliver_pending(store: Store, *, attempts: int = 3, backoff: float = 0.5) -> int:
    """Try to deliver every undelivered notification; return how many were delivered."""
    targets = urls()
    if not targets:
        return 0
    with store.reader() as tx:
        pending = tx.undelivered_webhooks()
    delivered = 0
    for item in pending:
        if item["attempts"] >= MAX_ATTEMPTS:
            continue
        error = None
        for attempt in range(attempts):
            try:
                for url in targets:
                    post(url, item["event"], item["id"], item["body"].encode("utf-8"))
                error = None
                break
            except (OSError, urllib.error.URLError) as exc:
                error = str(exc)
                time.sleep(backoff * (2 ** attempt))
        with store.transaction() as tx:
            tx.mark_webhook(item["id"], None if error else utc_now(), error)
        delivered += error is None
    return delivered


def deliver_in_background(store: Store, wait: float = 0.0) -> threading.Thread | None:
    """Start delivery on a daemon thread; optionally wait up to ``wait`` seconds for it."""
    if not urls():
        return None
    thread = threading.Thread(target=_quietly, args=(store,), name="countersign-webhooks", daemon=True)
    thread.start()
    if wait:
        thread.join(wait)
    return thread


def _quietly(store: Store) -> None:
    try:
        deliver_pending(store)
    except Exception:  # noqa: BLE001 - delivery problems never surface into the action that caused them
        pass
