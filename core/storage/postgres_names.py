"""How a PostgreSQL site is named without its password: for messages and for its local directory."""

from __future__ import annotations

import os
import re

__all__ = ["redact", "schema_of", "site_label"]


def _info(uri: str) -> dict[str, str]:
    from psycopg.conninfo import conninfo_to_dict

    try:
        return {k: str(v) for k, v in conninfo_to_dict(uri).items() if v is not None}
    except Exception:  # noqa: BLE001 - any parse failure: the store reports it when it is opened
        return {}


_SEARCH_PATH = re.compile(r"(?:-c\s*|--)search_path\s*=\s*(\S+)")


def schema_of(uri: str) -> str | None:
    """The schema a URI selects through its ``options`` (``-csearch_path=NAME``; else ``$PGOPTIONS``, as libpq),
    as PostgreSQL reads it — the last setting wins, its first schema is where tables are made, an unquoted name is
    folded to lower case — or ``None`` (the default)."""
    options = _info(uri).get("options") or os.environ.get("PGOPTIONS", "")
    found = _SEARCH_PATH.findall(options.replace("\\ ", " "))
    if not found:
        return None
    first = found[-1].split(",")[0].strip()
    name = first[1:-1] if first.startswith('"') and first.endswith('"') and len(first) > 1 else first.lower()
    return None if name in ("", "public") else name  # public: the default schema, the site without a schema


def redact(uri: str) -> str:
    """``uri`` without its password: ``postgresql://user@host:5432/db``, and `` (schema NAME)`` when the URI selects
    one (two sites in two schemas of one database are two sites)."""
    info = _info(uri)
    if not info:
        return "postgresql://(unparseable URI)"
    user = f"{info['user']}@" if info.get("user") else ""
    port = f":{info['port']}" if info.get("port") else ""
    schema = schema_of(uri)
    return (f"postgresql://{user}{info.get('host', '')}{port}/{info.get('dbname', '')}"
            + (f" (schema {schema})" if schema else ""))


_LOOPBACK = re.compile(r"(?:\[?(?:::ffff:)?)?127(?:\.\d{1,3}){0,3}\]?")
"""IPv4 loopback addresses in their spellings (``127.0.0.1``, ``127.1``, ``::ffff:127.0.0.1``)."""

#: Host spellings that all mean "this machine": a site's local folder must not depend on which one a command used.
_THIS_MACHINE = frozenset({"", "localhost", "localhost.localdomain", "127.0.0.1", "::1", "[::1]"})


def site_label(uri: str, *, as_written: bool = False) -> str:
    """``host_port_database[_schema]`` with anything but letters, digits, ``.``, ``-`` and ``_`` replaced (a directory
    name). The host is lower-cased, and every spelling of this machine (``localhost``, ``127.0.0.1``, ``::1``, a
    Unix-socket directory, none) is ``local``, so that one site on one machine has one folder however a command
    spells it; ``as_written`` gives the label of the first release, which kept the host as written."""
    info = _info(uri)
    schema = schema_of(uri)
    host = info.get("host", "local" if as_written else "")
    if not as_written:
        host = (info.get("hostaddr") or host).lower()  # libpq connects to hostaddr when given
        if host in _THIS_MACHINE or host.startswith("/") or _LOOPBACK.fullmatch(host):
            host = "local"
    raw = f"{host}_{info.get('port', '5432')}_{info.get('dbname', '')}" + (f"_{schema}" if schema else "")
    return re.sub(r"[^A-Za-z0-9._-]", "-", raw)
