"""The service's own Ed25519 key, which signs checkpoints and the events no user can sign.

The private key is stored in the database only sealed (scrypt + AES-256-GCM, see :mod:`core.identity.keys`) under the
*service secret*, which never lives in the database. Where the secret comes from, in order:

1. ``COUNTERSIGN_SERVICE_SECRET`` — the secret itself (inject it from your secrets manager in production);
2. ``COUNTERSIGN_SERVICE_SECRET_FILE`` — a path to a file holding it;
3. the site's service-secret file (:attr:`core.storage.site.Site.service_secret_file`,
   ``<database path>.service-secret``) — created beside the database by ``countersign init`` with mode 0600
   (convenient for one machine; keep it off backups of the database).

A copy of the database file alone therefore cannot sign checkpoints.
"""

from __future__ import annotations

import base64
import os
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from core.errors import StoreUnavailable
from core.identity import keys as crypto
from core.ledger.chain import Signer
from core.storage.site import Site, make_dirs, remove_made
from core.tlog.signed_note import verifier_key

if TYPE_CHECKING:
    from core.storage.contract import Transaction as Tx

SERVICE_OWNER = "@service"

_unsealed_cache: dict[tuple[str, str], Ed25519PrivateKey] = {}


#: Where a site is: a :class:`~core.storage.site.Site`, or a database file standing for the site around it.
SiteLike = Site | Path


def _site(where: SiteLike) -> Site:
    return where if isinstance(where, Site) else Site.for_database(where)


def secret_file_for(where: SiteLike) -> Path:
    """Default location of the service secret of a site (:attr:`~core.storage.site.Site.service_secret_file`)."""
    return _site(where).service_secret_file


def secret_source(db_path: SiteLike) -> str:
    """Human-readable description of where the secret is read from."""
    if os.environ.get("COUNTERSIGN_SERVICE_SECRET"):
        return "environment variable COUNTERSIGN_SERVICE_SECRET"
    if os.environ.get("COUNTERSIGN_SERVICE_SECRET_FILE"):
        return f"file {os.environ['COUNTERSIGN_SERVICE_SECRET_FILE']} (COUNTERSIGN_SERVICE_SECRET_FILE)"
    return f"file {secret_file_for(db_path)}"


def read_secret(db_path: SiteLike) -> str:
    """The service secret, or :class:`StoreUnavailable` saying where it was looked for."""
    env = os.environ.get("COUNTERSIGN_SERVICE_SECRET")
    if env:
        return env
    path = Path(os.environ.get("COUNTERSIGN_SERVICE_SECRET_FILE") or secret_file_for(db_path))
    try:
        return path.read_text(encoding="utf-8").strip()
    except OSError:
        raise StoreUnavailable(
            f"the service secret is unavailable (looked in {secret_source(db_path)}); set "
            "COUNTERSIGN_SERVICE_SECRET or COUNTERSIGN_SERVICE_SECRET_FILE"
        ) from None


def provision_secret(db_path: SiteLike) -> tuple[str, list[Path]]:
    """At ``init``: the configured secret, or the site's default secret file — created (mode 0600) when missing,
    never overwritten (a secret file that exists already may unlock a live site's key). Returns ``(secret,
    created)``: the file and folders this call created, outermost first (so that a failed ``init`` removes only what
    it made)."""
    if os.environ.get("COUNTERSIGN_SERVICE_SECRET") or os.environ.get("COUNTERSIGN_SERVICE_SECRET_FILE"):
        return read_secret(db_path), []
    path = secret_file_for(db_path)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
    created: list[Path] = make_dirs(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        if not isinstance(exc, FileExistsError):
            remove_made(created)
            raise
        deadline = time.monotonic() + 5.0  # another init may be writing it this very moment
        while True:
            try:
                existing = path.read_text(encoding="utf-8").strip()
            except OSError:
                existing = ""
            if existing or time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not existing:
            raise StoreUnavailable(f"the service-secret file {path} exists but is empty; remove it or set "
                                   "COUNTERSIGN_SERVICE_SECRET_FILE") from None
        return existing, created
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(secret + "\n")
    except BaseException:  # a full disk: an empty secret file would block the next init
        remove_made([*created, path])
        raise
    return secret, [*created, path]



def create_service_key(tx: Tx, secret: str) -> Signer:
    """Generate the service key and store it sealed under ``secret``."""
    key = Ed25519PrivateKey.generate()
    sealed = crypto.seal_private_key(key, secret, SERVICE_OWNER)
    key_id = crypto.key_id_of(sealed.public_key)
    tx.put_credentials(SERVICE_OWNER, _cred(sealed, key_id))
    return Signer(key_id, key)


def load_service_signer(tx: Tx, db_path: SiteLike) -> Signer:
    """Unseal the service key (cached per process after the first scrypt derivation)."""
    cred = tx.get_credentials(SERVICE_OWNER)
    if cred is None:
        raise StoreUnavailable(f"database {_site(db_path).name} has no service key; was it created by "
                               "'countersign init'?")
    cache_key = (_site(db_path).key, cred["key_id"])
    key = _unsealed_cache.get(cache_key)
    if key is None:
        sealed = crypto.SealedKey(
            cred["kdf"], bytes(cred["salt"]), bytes(cred["verifier"]), bytes(cred["nonce"]),
            bytes(cred["ciphertext"]), bytes(cred["public_key"]),
        )
        key = crypto.unseal_private_key(sealed, read_secret(db_path), SERVICE_OWNER)
        if key is None:
            raise StoreUnavailable(
                f"the service secret from {secret_source(db_path)} does not unlock this database's service key"
            )
        _unsealed_cache[cache_key] = key
    return Signer(cred["key_id"], key)


def service_public_key(tx: Tx) -> tuple[str, bytes]:
    """``(key_id, raw public key)`` of the current service key."""
    cred = tx.get_credentials(SERVICE_OWNER)
    if cred is None:
        raise StoreUnavailable("database has no service key")
    return cred["key_id"], bytes(cred["public_key"])


def service_verifier_key(origin: str, public_key: bytes) -> str:
    """The service key as a C2SP verifier-key string (``name+keyid+base64``), named after the log origin."""
    return verifier_key(origin, public_key)


def _cred(sealed: crypto.SealedKey, key_id: str) -> dict[str, object]:
    return {
        "kdf": sealed.kdf,
        "salt": sealed.salt,
        "verifier": sealed.verifier,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "public_key": sealed.public_key,
        "key_id": key_id,
    }


sealed_to_credentials = _cred
