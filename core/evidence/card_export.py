"""Model-card exports: Markdown with Hugging Face model-card YAML front matter (``model-index`` with the evaluation
metrics), JSON in Google's Model Card Toolkit (MCT) schema v0.0.2, and HTML.

All three are assembled from the stored records (card sections, artifact, training data, evaluations), not retyped.

The MCT JSON satisfies the schema shipped beside this module (:data:`MCT_SCHEMA`) *with* format checking, and uses
only the fields the schema declares (MCT's own ``ModelCard.from_json`` refuses any other), for every input the product
accepts:

* ``version.date`` (``format: date``) is the UTC calendar date of the registration timestamp;
* ``references[].reference`` (``format: uri``) is the registered ``--code-ref`` mapped to a URI where a standard
  mapping exists (:func:`reference_uri`: ``git@host:org/repo`` → ``ssh://git@host/org/repo``, ``C:\\src\\repo`` →
  ``file:///C:/src/repo``, ``/srv/repo`` → ``file:///srv/repo``, characters a URI cannot hold percent-encoded);
  otherwise no reference is written. The code reference exactly as registered is always in the free-text
  ``model_details.documentation``, with the artifact's SHA-256 (or the fact that an external model has none);
* ``performance_metrics[].slice`` is the data slice a metric was computed on (``sex=female``), omitted for a metric
  on the whole evaluation data; the policy check a value comes from is named in ``type`` (``roc_auc (check auc)``);
* each ``model_parameters.data[]`` says in its ``description`` whether it is training or evaluation data, and the
  evaluation data lists the sensitive features its fairness checks grouped by in ``sensitive.sensitive_data``.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import yaml

from core.catalog.documents import MODEL_CARD_SECTIONS
from core.display.text import is_escaped, markdown_literal
from core.display.words import number, rule_words
from core.errors import BadInput
from core.evidence.render import to_html
from core.identity.users import Session

if TYPE_CHECKING:
    from core.api.context import Context
    from core.catalog.registry import RegistryService
    from core.policy.governance import GovernanceService


FORMATS = ("md", "json", "html")

#: The Model Card Toolkit schema the JSON export follows (Apache-2.0, copied from model-card-toolkit 2.0.0).
MCT_SCHEMA_VERSION = "0.0.2"
MCT_SCHEMA = (Path(__file__).resolve().parents[1] / "schemas" / "mct" / f"v{MCT_SCHEMA_VERSION}"
              / "model_card.schema.json")

#: What every export says in place of the artifact digest of an external model (registered without an artifact).
NO_ARTIFACT = "none: external model, known only by its predictions (no artifact registered)"


def artifact_text(model: dict[str, Any]) -> str:
    """A model's artifact as the exports name it: ``SHA-256 <digest>``, or, for an external model, that it has none."""
    digest = model.get("artifact_digest")
    return f"SHA-256 {digest}" if digest else NO_ARTIFACT


def _md(value: Any) -> str:  # noqa: ANN401
    """User text as Markdown that renders as the text itself (line by line, so paragraphs keep their breaks)."""
    return "\n".join(markdown_literal(line.strip()) for line in str(value).split("\n"))


def _text(value: Any) -> str:  # noqa: ANN401
    """A card section as Markdown; the section's text is data, never markup (no HTML, links or images)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return "\n".join(f"- **{_md(str(k).replace('_', ' '))}**: {_md(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "\n".join(f"- {_md(v)}" for v in value)
    return _md(value)


def _items(value: Any) -> list[str]:  # noqa: ANN401
    """A card section as a list of plain-text items (a dict gives ``key: value`` items)."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{str(k).replace('_', ' ')}: {v}" for k, v in value.items()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _plain(value: Any) -> str:  # noqa: ANN401
    """A card section as plain text (JSON and HTML escape it themselves; Markdown escapes would show as ``\\``)."""
    return "\n".join(_items(value))


# --- dates and URIs -------------------------------------------------------------------------------------------------


def iso_date(timestamp: Any) -> str | None:  # noqa: ANN401
    """The UTC calendar date (RFC 3339 ``full-date``, ``YYYY-MM-DD``) of a timestamp; None if it is not one."""
    if isinstance(timestamp, datetime):
        moment = timestamp
    else:
        try:
            moment = datetime.fromisoformat(str(timestamp).strip())
        except ValueError:
            return None
    try:
        return (moment.astimezone(UTC) if moment.tzinfo is not None else moment).date().isoformat()
    except (OverflowError, ValueError):
        return None


# RFC 3986 character classes, and the grammar of a URI whose host is a reg-name or an IPv4 address (what
# :func:`reference_uri` builds; IP-literal hosts are never produced).
_UNRESERVED = r"A-Za-z0-9\-._~"
_SUB_DELIMS = "!$&'()*+,;="
_PCT = "%[0-9A-Fa-f]{2}"
_PCHAR = f"(?:[{_UNRESERVED}{_SUB_DELIMS}:@]|{_PCT})"
_SEGMENTS = f"(?:/{_PCHAR}*)*"
_URI_RE = re.compile(
    r"[A-Za-z][A-Za-z0-9+.\-]*:"
    f"(?://(?:(?:[{_UNRESERVED}{_SUB_DELIMS}:]|{_PCT})*@)?(?:[{_UNRESERVED}{_SUB_DELIMS}]|{_PCT})*(?::[0-9]*)?"
    f"{_SEGMENTS}|/(?:{_PCHAR}+{_SEGMENTS})?|{_PCHAR}+{_SEGMENTS}|)"
    f"(?:\\?(?:{_PCHAR}|[/?])*)?(?:#(?:{_PCHAR}|[/?])*)?")
_STRAY_PERCENT = re.compile(f"%(?!{_PCT[1:]})")
_WINDOWS_DRIVE = re.compile(r"(?P<drive>[A-Za-z]):[\\/](?P<path>.*)", re.S)
_WINDOWS_UNC = re.compile(r"\\\\(?P<host>[^\\/]+)[\\/](?P<path>.*)", re.S)
# git's "scp-like" syntax, [user@]host:path, with the colon before any slash (git-clone(1), GIT URLS).
_SCP = re.compile(r"(?:(?P<user>[A-Za-z0-9._~-]+)@)?(?P<host>[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):"
                  r"(?P<path>[^/].*|/.+)", re.S)
_HOST = re.compile(r"[A-Za-z0-9._~-]*")


def _encode(part: str, safe: str) -> str:
    """``part`` with every character a URI cannot hold there percent-encoded (UTF-8); existing ``%XX`` kept."""
    return _STRAY_PERCENT.sub("%25", quote(part, safe=safe + "%"))


def _path(path: str) -> str:
    return _encode(path, _SUB_DELIMS + ":@/")


def _from_url(text: str) -> str | None:
    """A ``scheme://…`` URL with the characters a URI cannot hold percent-encoded; None if its authority is not
    ``[userinfo@]host[:port]`` with a plain host name."""
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    userinfo, at, hostport = parts.netloc.rpartition("@")
    host, colon, port = hostport.partition(":")
    if not parts.scheme or not _HOST.fullmatch(host) or port and not (port.isascii() and port.isdigit()):
        return None
    authority = (_encode(userinfo, _SUB_DELIMS + ":") + "@" if at else "") + host + (":" + port if colon else "")
    uri = f"{parts.scheme}://{authority}{_path(parts.path)}"
    if parts.query:
        uri += "?" + _encode(parts.query, _SUB_DELIMS + ":@/?")
    if parts.fragment:
        uri += "#" + _encode(parts.fragment, _SUB_DELIMS + ":@/?")
    return uri


#: Schemes whose URIs have no ``//`` authority (RFC 3986 ``scheme ":" path``), kept as they are rather than read
#: as git's scp-like ``host:path``: DOIs, URNs, mail, files, tags, and Software Heritage identifiers.
_OPAQUE_SCHEMES = frozenset({"doi", "urn", "mailto", "file", "tag", "info", "data", "swh", "news", "tel", "geo"})


def _to_uri(text: str) -> str | None:
    if "://" in text:
        return _from_url(text)
    scheme, colon, rest = text.partition(":")
    if colon and scheme.lower() in _OPAQUE_SCHEMES and rest:
        return f"{scheme}:{_encode(rest, _SUB_DELIMS + ':@/?#')}"
    if match := _WINDOWS_DRIVE.fullmatch(text):  # RFC 8089 appendix E.2: file:///C:/path
        return f"file:///{match['drive']}:/{_path(match['path'].replace(chr(92), '/'))}"
    if match := _WINDOWS_UNC.fullmatch(text):  # RFC 8089 appendix E.3: \\host\share\path → file://host/share/path
        host = match["host"]
        return f"file://{host}/{_path(match['path'].replace(chr(92), '/'))}" if _HOST.fullmatch(host) else None
    if (match := _SCP.fullmatch(text)) and (match["user"] or len(match["host"]) > 1):  # not C:dir (a drive)
        # git: [user@]host:path is ssh://[user@]host/path
        user = f"{match['user']}@" if match["user"] else ""
        return f"ssh://{user}{match['host']}/{_path(match['path'].lstrip('/'))}"
    if text.startswith("/") and not text.startswith("//"):
        return f"file://{_path(text)}"
    return None  # a relative path or a bare name: no URI names it


def reference_uri(text: str | None) -> str | None:
    """A code or resource reference as an RFC 3986 URI, or None where no standard mapping exists.

    ``scheme://…`` URLs are kept (characters a URI cannot hold, such as spaces, backslashes and non-ASCII letters,
    percent-encoded as UTF-8); git's scp-like ``[user@]host:path`` becomes ``ssh://[user@]host/path`` (as for
    ``git@github.com:org/repo.git``); Windows paths (``C:\\dir``, ``\\\\host\\share``) and absolute POSIX paths become
    ``file:`` URIs (RFC 8089). Relative paths, bare names, text with control or invisible formatting characters
    (:func:`core.display.text.is_escaped`: they would be invisible in a URI, or silently dropped by URL parsers) and
    URLs with
    unusual authorities (IP literals, non-numeric ports) give None: such text belongs in a free-text field.
    Surrounding white space is ignored. The result always matches the RFC 3986 ``URI`` rule.
    """
    if text is None:
        return None
    text = text.strip()
    if not text or any(is_escaped(c) for c in text):
        return None
    try:
        uri = _to_uri(text)
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 to percent-encode
        return None
    return uri if uri is not None and _URI_RE.fullmatch(uri) else None


# --- the exports ----------------------------------------------------------------------------------------------------


class CardExportService:
    """``countersign card``: a model card in Markdown, Model Card Toolkit JSON or HTML."""

    def __init__(self, ctx: Context, registry: RegistryService, governance: GovernanceService) -> None:
        self._ctx = ctx
        self._registry = registry
        self._governance = governance

    def export_card(self, session: Session, model_ref: str, fmt: str) -> str:
        """The model card of ``model_ref`` with its latest evaluation, as ``md``, ``json`` (MCT) or ``html``."""
        if fmt not in FORMATS:
            raise BadInput(f"--format must be one of {', '.join(FORMATS)}")
        model = self._registry.model(session, model_ref)
        listed = self._governance.evaluations(session, model_ref)
        latest = self._governance.evaluation(session, listed[0]["id"]) if listed else None
        return {"md": _markdown, "json": _toolkit_json, "html": _html}[fmt](model, latest)


def _number(value: Any) -> int | float | None:  # noqa: ANN401
    """A metric value fit to report: a finite number (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None


def _metrics(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The metric and fairness checks with a value: ``type`` the metric, ``name`` the check id."""
    if not result:
        return []
    return [{"type": c["metric"], "value": c["value"], "name": c["id"],
             **({"args": {"average": _average(c)}} if _average(c) else {})} for c in result["checks"]
            if c["kind"] in ("metric", "fairness") and _number(c["value"]) is not None]


def _average(check: dict[str, Any]) -> str | None:
    """How a multiclass precision, recall or F1 averaged over classes (``macro``, ``weighted``, ``micro``)."""
    average = check.get("average") or (check.get("details") or {}).get("average")
    return str(average) if average else None


def _metric_name(check: dict[str, Any]) -> str:
    """The metric with its averaging when it has one: ``f1 (macro average)``."""
    return f"{check['metric']} ({_average(check)} average)" if _average(check) else str(check["metric"])


def _sensitive_features(check: dict[str, Any]) -> list[str]:
    return [str(f) for f in (check.get("details") or {}).get("sensitive_features") or []]


def _slice(features: list[str], group: str) -> str:
    """The data slice of one fairness group: ``sex=female``, or ``(sex, race)=(female, White)``."""
    return f"{features[0]}={group}" if len(features) == 1 else f"({', '.join(features)})=({group})"


def _performance_metrics(result: dict[str, Any] | None) -> list[dict[str, str]]:
    """MCT ``performance_metrics``: each metric check on the whole evaluation data (no slice), each fairness check's
    summary across its groups (no slice: it is computed over all of them), and the per-group rates the fairness
    checks compared, one per data slice (``slice`` is the group)."""
    if not result:
        return []
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for check in result["checks"]:
        value = _number(check["value"])
        if check["kind"] not in ("metric", "fairness") or value is None:
            continue
        if check["kind"] == "metric":
            out.append({"type": f"{_metric_name(check)} (check {check['id']})", "value": str(value)})
            continue
        features = _sensitive_features(check)
        across = f" across {', '.join(features)}" if features else ""
        out.append({"type": f"{check['metric']}{across} (check {check['id']})", "value": str(value)})
        details = check.get("details") or {}
        for group, entry in (details.get("groups") or {}).items():
            if not features or not isinstance(entry, dict) or not entry.get("included"):
                continue
            for rate in details.get("rates") or []:
                rate_value, data_slice = _number(entry.get(rate)), _slice(features, str(group))
                if rate_value is not None and (rate, data_slice) not in seen:
                    seen.add((rate, data_slice))
                    out.append({"type": str(rate), "value": str(rate_value), "slice": data_slice})
    return out


def _datasets(model: dict[str, Any], result: dict[str, Any] | None) -> list[dict[str, Any]]:
    """MCT ``model_parameters.data``: the training data, then the latest evaluation's data, each saying which it is."""
    card = model["card"] or {}
    about_training = _plain(card.get("training_data"))
    data: list[dict[str, Any]] = [
        {"name": ref, "description": "Training data (the model was registered as trained on it)."
                                     + (f" {about_training}" if about_training else "")}
        for ref in model["trained_on"]]
    if result:
        ref = result["data"]["ref"]
        about = _plain(card.get("evaluation_data"))
        description = (f"Evaluation data of evaluation {result['id']} ({result['data']['rows']} rows, SHA-256 "
                       f"{result['data']['sha256']})."
                       + (" The model was trained on this same dataset (in-sample evaluation)."
                          if ref in model["trained_on"] else "")
                       + (f" {about}" if about else ""))
        entry: dict[str, Any] = {"name": ref, "description": description}
        sensitive = sorted({f for c in result["checks"] if c["kind"] == "fairness" for f in _sensitive_features(c)})
        if sensitive:
            entry["sensitive"] = {"sensitive_data": sensitive}
        data.append(entry)
    return data


def _documentation(model: dict[str, Any], result: dict[str, Any] | None) -> str:
    """MCT ``model_details.documentation``: the registration facts, verbatim (free text, unlike the URI fields)."""
    lines = [f"Registered in Countersign as {model['ref']} by {model['owner']} at {model['registered_at']}.",
             f"Artifact: {artifact_text(model)}."]
    if model.get("code_ref"):
        lines.append(f"Code reference (as registered): {model['code_ref']}")
    if result:
        policy = result["policy"]
        lines.append(f"Latest evaluation {result['id']} under policy {policy['name']}@{policy['version']}: "
                     f"{result['verdict']}.")
    return "\n".join(lines)


def _architecture(model: dict[str, Any]) -> str:
    if not model["estimator"]:
        return "external model (known only by its predictions; no artifact registered)"
    return model["estimator"] + (f" ({model['framework']})" if model.get("framework") else "")


def _byline(model: dict[str, Any]) -> str:
    """The card's one-line summary: artifact (or its absence), estimator, owner, risk tier (plain text)."""
    what = (f"Artifact SHA-256 {model['artifact_digest']} · {model['estimator'] or 'estimator not recorded'}"
            if model["artifact_digest"] else "External model, known only by its predictions: no artifact registered")
    return f"{what} · owner {model['owner']} · risk tier {model['risk_tier'] or '—'}"


def _markdown(model: dict[str, Any], result: dict[str, Any] | None) -> str:
    card = model["card"] or {}
    front: dict[str, Any] = {
        "library_name": "sklearn" if (model["framework"] or "").startswith("scikit-learn") else None,
        "tags": ["countersign", "tabular-classification"],
        "model-index": [{
            "name": model["ref"],
            "results": [{
                "task": {"type": "tabular-classification"},
                "dataset": {"name": result["data"]["ref"], "type": result["data"]["ref"].split("@")[0],
                            "revision": result["data"]["sha256"]},
                "metrics": _metrics(result),
            }] if result else [],
        }],
    }
    front = {k: v for k, v in front.items() if v is not None}
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# Model card: `{model['ref']}`",
             "", f"*{_md(_byline(model))}*", ""]
    for section in MODEL_CARD_SECTIONS:
        lines += [f"## {section.replace('_', ' ').capitalize()}", "", _text(card.get(section)) or "_Not documented._",
                  ""]
    if result:
        lines += ["## Quantitative analyses", "", f"Evaluation `{result['id']}` on `{result['data']['ref']}` "
                  f"(evaluation data) under policy `{result['policy']['name']}@{result['policy']['version']}`: "
                  f"**{_md(result['verdict'])}**.", "",
                  "| check | metric | value | rule | result |", "|---|---|---|---|---|"]
        lines += [f"| {_md(c['id'])} | {_md(_metric_name(c))} | {_md(number(c['value']))} | "
                  f"{_md(rule_words(c['operator'], c['threshold']))} | {'pass' if c['passed'] else 'FAIL'} |"
                  for c in result["checks"]]
        lines.append("")
    return "\n".join(lines)


def _toolkit_json(model: dict[str, Any], result: dict[str, Any] | None) -> str:
    """The card in the Model Card Toolkit JSON schema v0.0.2 (valid with format checking; see the module docs)."""
    card = model["card"] or {}
    version: dict[str, str] = {"name": model["version"]}
    date = iso_date(model["registered_at"])
    if date is not None:
        version["date"] = date
    uri = reference_uri(model.get("code_ref"))
    doc = {
        "schema_version": MCT_SCHEMA_VERSION,
        "model_details": {
            "name": model["name"],
            "overview": _plain(card.get("model_details")),
            "documentation": _documentation(model, result),
            "version": version,
            "owners": [{"name": model["owner"]}],
            "references": [{"reference": uri}] if uri else [],
        },
        "model_parameters": {
            "model_architecture": _architecture(model),
            "data": _datasets(model, result),
            "input_format": ", ".join(f"{f['name']}: {f['type']}" for f in model["features"]),
            "input_format_map": [{"key": str(f["name"]), "value": str(f["type"])} for f in model["features"]],
        },
        "quantitative_analysis": {
            "performance_metrics": _performance_metrics(result),
        },
        "considerations": {
            "users": [],
            "use_cases": [{"description": d} for d in _items(card.get("intended_use"))],
            "limitations": [{"description": d} for d in _items(card.get("limitations"))
                            + _items(card.get("out_of_scope_uses"))],
            "tradeoffs": [{"description": d} for d in _items(card.get("caveats_and_recommendations"))],
            "ethical_considerations": [{"name": d, "mitigation_strategy": ""} for d in
                                       _items(card.get("ethical_considerations"))],
        },
    }
    return json.dumps(doc, indent=2)


def _html(model: dict[str, Any], result: dict[str, Any] | None) -> str:
    card = model["card"] or {}
    blocks: list[tuple[Any, ...]] = [("h1", f"Model card: {model['ref']}"), ("p", _byline(model))]
    for section in MODEL_CARD_SECTIONS:
        blocks += [("h2", section.replace("_", " ").capitalize()),
                   ("p", _plain(card.get(section)) or "Not documented.")]
    if result:
        policy = result["policy"]
        blocks += [("h2", "Quantitative analyses"),
                   ("p", f"Evaluation {result['id']} on {result['data']['ref']} (evaluation data) under policy "
                         f"{policy['name']}@{policy['version']}: {result['verdict']}."),
                   ("table", ["Check", "Metric", "Value", "Rule", "Passed"],
                    [[c["id"], c["metric"], c["value"], f"{c['operator'] or ''} {c['threshold']}", c["passed"]]
                     for c in result["checks"]])]
    return to_html(f"Model card {model['ref']}", blocks)
