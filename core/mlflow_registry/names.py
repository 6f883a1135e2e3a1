"""How MLflow's names become Countersign's: model and dataset names, the tracking server's label, lineage node ids.

MLflow allows any text in a registered model's name (spaces, quotes, non-ASCII); a Countersign reference is
``NAME@VERSION`` with ``NAME`` of letters, digits, ``.``, ``_``, ``/`` and ``-``. A name that is already valid is kept;
any other becomes a readable slug with the first 8 hex digits of its SHA-256 appended. Two MLflow names that would
still meet in one Countersign name are refused at import, naming both. The MLflow name itself is kept in the
ledgered provenance of every imported version.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import urllib.parse

from core.catalog.datasets import REF_RE
from core.errors import BadInput

__all__ = ["UNCLEAR_URL", "countersign_name", "credentials_unclear", "dataset_reference_node", "redact",
           "run_node", "scrub", "server_key", "server_label",
           "strip_url", "url_secrets", "version_node", "without_secrets"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def countersign_name(mlflow_name: str) -> str:
    """The Countersign name for an MLflow registered model or dataset name (see the module's description)."""
    if REF_RE.fullmatch(f"{mlflow_name}@1") and "//" not in mlflow_name and not mlflow_name.endswith("/"):
        return mlflow_name
    slug = _UNSAFE.sub("-", mlflow_name).strip("-._")[:100] or "mlflow"
    if not slug[0].isalnum():
        slug = "m" + slug
    return f"{slug}-{hashlib.sha256(mlflow_name.encode('utf-8', 'surrogatepass')).hexdigest()[:8]}"


#: MLflow's tracking URIs that are names, not paths.
_NAMED_STORES = ("databricks", "databricks-uc", "uc")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:")


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.abspath(os.path.expanduser(path)))


def credentials_unclear(url: str) -> bool:
    """Whether ``url`` (``scheme://…``) has an ``@`` after the first ``/``, ``?`` or ``#`` of its authority: a user
    or password holding one of those characters unencoded, which no parser can tell apart from a path, query or
    fragment — so no part of it can be recorded or shown as surely free of secrets."""
    rest = url.partition("://")[2]
    at = rest.rfind("@")
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    return at >= 0 and bool(ends) and at > min(ends)


def server_label(tracking_uri: str) -> str:
    """The tracking URI as it may be recorded: without user, password, query or fragment (credentials come from
    MLflow's own environment variables, never from the ledger); a local store (a SQLite file, a store folder, a
    ``file:`` URI) made absolute and normalised, so that later commands reach the same store from any folder and one
    store has one label. :class:`BadInput` for a server URI whose credentials are unclear
    (:func:`credentials_unclear`) or a ``file:`` URI naming another host — the message never quotes the URI."""
    uri = tracking_uri.strip()
    if any(unicodedata.category(c) == "Cc" for c in uri):  # URL parsers drop tabs and line breaks: secrets move
        raise BadInput("the tracking URI holds a control character (a tab or a line break): refused")
    if uri in _NAMED_STORES or uri.startswith(("databricks://", "databricks-uc://", "uc://")):
        if "@" in uri:
            raise BadInput(f"a {uri.partition(':')[0]}: tracking URI names a profile, not a user and password: give "
                           "credentials in the profile or MLflow's environment variables")
        return uri
    if not _SCHEME.match(uri) or len(uri) > 1 and uri[1] == ":":  # a plain path
        return _absolute(uri) if uri else ""
    scheme, _, rest = uri.partition(":")
    if scheme == "sqlite":
        path = rest.removeprefix("//").split("?", 1)[0]  # sqlite:///relative.db, sqlite:////absolute.db
        return f"sqlite:///{_absolute(path[1:])}" if path.startswith("/") and len(path) > 1 else uri.split("?")[0]
    if scheme == "file":
        if rest.startswith("//") and rest[2:].split("/", 1)[0] not in ("", "localhost"):
            raise BadInput("a file: tracking URI must name a local path (file:///path): it names another host")
        path = rest.removeprefix("//localhost").removeprefix("//") if rest.startswith("//") else rest
        return "file://" + _absolute(urllib.parse.unquote(path.split("?", 1)[0].split("#", 1)[0]))
    if not rest.startswith("//"):
        raise BadInput(f"a {scheme}: tracking URI must name a server as {scheme}://host…: refused")
    if credentials_unclear(uri):
        raise BadInput(f"the {scheme}: tracking URI has an '@' after a '/', '?' or '#' of its host part, so its user "
                       "and password cannot be told from its path: percent-encode them (/ as %2F, ? as %3F, # as "
                       "%23, @ as %40), or give them in MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD")
    authority, slash, path = rest.removeprefix("//").partition("/")
    base = f"{scheme}://{authority.rsplit('@', 1)[-1]}{slash}{path}"
    return base.split("#", 1)[0].split("?", 1)[0]


#: Recorded instead of a URL whose user and password cannot be told apart from its path.
UNCLEAR_URL = "<a URL not recorded: its user and password cannot be told apart from its path>"


def strip_url(url: str) -> str:
    """``url`` without user and password (everything before the authority's last ``@``), query or fragment;
    :data:`UNCLEAR_URL` when they cannot be told apart (:func:`credentials_unclear`)."""
    if credentials_unclear(url):
        return UNCLEAR_URL
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "<a URL that could not be parsed>"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def without_secrets(source: str) -> str:
    """A dataset source as MLflow stores it (JSON, or text), with every URL in it stripped of user, password, query
    and fragment (a presigned URL's signature, a token), to be recorded."""
    import json

    def clean(value: object) -> object:
        if isinstance(value, str):
            return scrub(value)
        if isinstance(value, dict):
            return {scrub(str(k)): clean(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean(v) for v in value]
        return value

    try:
        return json.dumps(clean(json.loads(source)), sort_keys=True)
    except ValueError:
        return str(clean(source))


_URL_START = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def scrub(text: str) -> str:
    """``text`` (free text that may hold URLs anywhere: a dataset source, a key) with every URL in it stripped as by
    :func:`strip_url`, and every other word holding a ``user:password@`` (``scp``-style ``alice:pw@host:/path``, a URL
    without ``//``) cut to what follows its last ``@``."""
    def word(match: re.Match[str]) -> str:
        token = match.group()
        url = _URL_START.search(token)
        if url is not None:
            return token[:url.start()] + strip_url(token[url.start():])
        at = token.rfind("@")
        return "***@" + token[at + 1:] if at > 0 and ":" in token[:at] else token

    if _URL_START.match(text.strip()):  # the whole text is one URL (a password may even hold a space)
        return strip_url(text.strip())
    return re.sub(r"\S+", word, text)


def url_secrets(url: str) -> list[str]:
    """The secret parts of a URL a user gave (user and password, query, fragment; all after ``scheme://`` when they
    cannot be told apart), to be redacted from messages."""
    url = url.strip()
    if credentials_unclear(url):
        return [url.partition("://")[2]]
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return [url]
    return [p for p in (parts.netloc.rpartition("@")[0], parts.query, parts.fragment) if p]


def _spellings(secret: str) -> set[str]:
    """``secret`` and each of its parts between ``&``, ``=``, ``;``, ``:`` and ``/`` (three characters or more), as a
    message may spell them: as given, percent-encoded as URL libraries do, or decoded."""
    quote, unquote = urllib.parse.quote, urllib.parse.unquote
    parts = {secret} | {p for p in re.split(r"[&=;:/]", secret) if len(p) >= 3}
    return {v for p in parts for v in (p, quote(p, safe=""), quote(p, safe="/:=&@"), quote(p, safe="=&"),
                                       urllib.parse.quote_plus(p), unquote(p), urllib.parse.unquote_plus(p))
            if len(v) >= 3 or v == secret} - {""}


def redact(text: str, secrets: list[str] | tuple[str, ...] = ()) -> str:
    """``text`` with each of ``secrets`` (as given, percent-encoded or decoded), and in every URL its user, password,
    query and fragment, replaced by ``***`` (for error messages, which may quote the URI a user gave)."""
    for secret in sorted({v for s in secrets for v in _spellings(s)}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return _URL.sub(lambda m: _redact_url(m.group()), text)


def _redact_url(url: str) -> str:
    scheme, _, rest = url.partition("://")
    if credentials_unclear(url):
        return f"{scheme}://***"
    authority, slash, path = rest.partition("/")
    authority = ("***@" if "@" in authority else "") + authority.rpartition("@")[2]
    for mark in ("?", "#"):
        if mark in path:
            path = path.split(mark, 1)[0] + mark + "***"
    if not slash:
        for mark in ("?", "#"):
            if mark in authority:
                authority = authority.split(mark, 1)[0] + mark + "***"
    return f"{scheme}://{authority}{slash}{path}"


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")


def server_key(label: str) -> str:
    """A short stable key for a tracking server (the first 12 hex digits of the SHA-256 of its label)."""
    return hashlib.sha256(label.encode("utf-8")).hexdigest()[:12]


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def version_node(label: str, name: str, version: str) -> str:
    """Lineage node id of an MLflow model version."""
    return f"mlflow-model-version:{server_key(label)}/{_quote(name)}/{_quote(version)}"


def run_node(label: str, run_id: str) -> str:
    """Lineage node id of an MLflow run (``mlflow-run:``, apart from OpenLineage's ``run:`` nodes)."""
    return f"mlflow-run:{server_key(label)}/{_quote(run_id)}"


def dataset_reference_node(label: str, name: str, digest: str) -> str:
    """Lineage node id of a dataset MLflow logged that Countersign knows only by reference (name and MLflow digest)."""
    return f"mlflow-dataset:{server_key(label)}/{_quote(name)}/{_quote(digest)}"
