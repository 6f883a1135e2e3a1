"""Datasheets for datasets and model cards: the documentation a regulator reads.

* Datasheet sections follow Gebru et al., *Datasheets for Datasets* (CACM 64(12), 2021): motivation, composition,
  collection process, preprocessing/cleaning/labeling, uses, distribution, maintenance.
* Model-card sections follow Mitchell et al., *Model Cards for Model Reporting* (FAT* 2019): model details, intended
  use, out-of-scope uses, factors, metrics (rationale), evaluation data, training data, ethical considerations,
  caveats and recommendations — plus ``limitations``, which policies commonly require on its own.

Each section is free text, a list of statements, or a mapping of question to answer. Unknown sections are errors.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

Section = str | list[str] | dict[str, str]


class Datasheet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    motivation: Section | None = None
    composition: Section | None = None
    collection_process: Section | None = None
    preprocessing: Section | None = None
    uses: Section | None = None
    distribution: Section | None = None
    maintenance: Section | None = None


DATASHEET_SECTIONS: tuple[str, ...] = tuple(Datasheet.model_fields)


class ModelCard(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model_details: Section | None = None
    intended_use: Section | None = None
    out_of_scope_uses: Section | None = None
    factors: Section | None = None
    metrics: Section | None = None
    evaluation_data: Section | None = None
    training_data: Section | None = None
    ethical_considerations: Section | None = None
    caveats_and_recommendations: Section | None = None
    limitations: Section | None = None


MODEL_CARD_SECTIONS: tuple[str, ...] = tuple(ModelCard.model_fields)


def present(section: Any) -> bool:  # noqa: ANN401
    """A section counts as documented when it holds some non-blank text."""
    if section is None:
        return False
    if isinstance(section, str):
        return bool(section.strip())
    if isinstance(section, dict):
        return any(present(v) for v in section.values())
    if isinstance(section, list):
        return any(present(v) for v in section)
    return True


def as_dict(doc: BaseModel) -> dict[str, Any]:
    """Only the sections that were given."""
    return doc.model_dump(exclude_none=True)
