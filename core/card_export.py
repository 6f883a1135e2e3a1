"""Model-card exports: Markdown with Hugging Face model-card YAML front matter (``model-index`` with the evaluation
metrics), JSON with the fields of Google's Model Card Toolkit schema v0.0.2, and HTML.

All three are assembled from the stored records (card sections, artifact, training data, evaluations), not retyped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import yaml

from core.documents import MODEL_CARD_SECTIONS
from core.errors import BadInput
from core.identity import Session
from core.render import to_html
from core.text import markdown_literal

FORMATS = ("md", "json", "html")


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
    if value is None:
        return []
    if isinstance(value, dict):
        return [f"{k.replace('_', ' ')}: {v}" for k, v in value.items()]
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


class CardExportAPI:
    """``countersign card`` (mixed into :class:`core.service.Countersign`)."""

    model: Callable[..., dict[str, Any]]
    evaluations: Callable[..., list[dict[str, Any]]]
    evaluation: Callable[..., dict[str, Any]]

    def export_card(self, session: Session, model_ref: str, fmt: str) -> str:
        if fmt not in FORMATS:
            raise BadInput(f"--format must be one of {', '.join(FORMATS)}")
        model = self.model(session, model_ref)
        listed = self.evaluations(session, model_ref)
        latest = self.evaluation(session, listed[0]["id"]) if listed else None
        return {"md": _markdown, "json": _toolkit_json, "html": _html}[fmt](model, latest)


def _metrics(result: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not result:
        return []
    return [{"type": c["metric"], "value": c["value"], "name": c["id"]} for c in result["checks"]
            if c["kind"] in ("metric", "fairness") and c["value"] is not None]


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
    lines = ["---", yaml.safe_dump(front, sort_keys=False).rstrip(), "---", "", f"# Model card: {_md(model['ref'])}",
             ""]
    lines += [f"*Artifact SHA-256 {_md(model['artifact_digest'])} · {_md(model['estimator'] or 'external model')} · "
              f"owner {_md(model['owner'])} · risk tier {_md(model['risk_tier'] or '—')}*", ""]
    for section in MODEL_CARD_SECTIONS:
        lines += [f"## {section.replace('_', ' ').capitalize()}", "", _text(card.get(section)) or "_Not documented._",
                  ""]
    if result:
        lines += ["## Quantitative analyses", "", f"Evaluation `{result['id']}` under policy "
                  f"{result['policy']['name']}@{result['policy']['version']}: **{result['verdict']}**.", "",
                  "| check | metric | value | rule | passed |", "|---|---|---|---|---|"]
        lines += [f"| {_md(c['id'])} | {_md(c['metric'])} | {_md(c['value'])} | "
                  f"{_md(c['operator'] or '')} {_md(c['threshold'])} | {_md(c['passed'])} |" for c in result["checks"]]
        lines.append("")
    return "\n".join(lines)


def _toolkit_json(model: dict[str, Any], result: dict[str, Any] | None) -> str:
    """Fields of the Model Card Toolkit JSON schema v0.0.2."""
    card = model["card"] or {}
    name, _, version = model["ref"].partition("@")
    doc = {
        "schema_version": "0.0.2",
        "model_details": {
            "name": name,
            "overview": _text(card.get("model_details")),
            "version": {"name": version, "date": model["registered_at"]},
            "owners": [{"name": model["owner"]}],
            "references": [{"reference": model["code_ref"]}] if model["code_ref"] else [],
        },
        "model_parameters": {
            "model_architecture": model["estimator"] or "external model",
            "data": [{"name": ref} for ref in model["trained_on"]]
                    + ([{"name": result["data"]["ref"]}] if result else []),
            "input_format": ", ".join(f"{f['name']}: {f['type']}" for f in model["features"]),
        },
        "quantitative_analysis": {
            "performance_metrics": [{"type": m["type"], "value": str(m["value"]), "slice": m["name"]}
                                    for m in _metrics(result)],
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
    blocks: list[tuple[Any, ...]] = [("h1", f"Model card: {model['ref']}"),
                                     ("p", f"Artifact SHA-256 {model['artifact_digest']}; {model['estimator']}")]
    for section in MODEL_CARD_SECTIONS:
        blocks += [("h2", section.replace("_", " ").capitalize()), ("p", _text(card.get(section)) or "Not documented.")]
    if result:
        blocks += [("h2", "Quantitative analyses"),
                   ("table", ["Check", "Metric", "Value", "Rule", "Passed"],
                    [[c["id"], c["metric"], c["value"], f"{c['operator'] or ''} {c['threshold']}", c["passed"]]
                     for c in result["checks"]])]
    return to_html(f"Model card {model['ref']}", blocks)
