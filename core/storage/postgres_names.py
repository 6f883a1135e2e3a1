"""How a PostgreSQL site is named without its password: for messages and for its local directory."""

from __future__ import annotations

import re

__all__ = ["redact", "site_label"]


def _info(uri: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(uri).items() if v is not None}
    except Exception:  # noqa: BLE001 - any parse failure: the store reports it when it is opened
        return {}


def redact(uri: str) -> str:
    """``uri`` without its password: ``postgresql://user@host:5432/db``."""
    info = _info(uri)
    if not info:
        return "postgresql://(unparseable URI)"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    return f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"


def site_label(uri: str) -> str:
    """``host_port_database`` with anything but letters, digits, ``.``, ``-`` and ``_`` replaced (a directory name)."""
    info = _info(uri)
    raw = f"{info.get('host', 'local')}_{info.get('port', '5432')}_{info.get('dbname', '')}"
    return re.sub(r"[^A-Za-z0-9._-]", "-", raw)
