"""A model version prepared for registration outside any transaction (:class:`PreparedModel`), and the check of its
input names against those given at registration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from core.catalog.datasets import Ref
from core.errors import BadInput

__all__ = ["ModelOptions", "PreparedModel", "with_feature_names"]


class ModelOptions(TypedDict, total=False):
    """What a model version is registered with besides its artifact, name and version.

    ``trained_on``: dataset references (``NAME@VERSION``; at least one unless imported); ``card``: a model card file;
    ``code_ref``: ``URL@COMMIT``; ``risk_tier``: high, medium or low; ``external``: known only by its predictions
    (no artifact); ``trust_pickle``: the acting user vouches for a pickle's exact bytes (ledgered); ``features``: the
    input names of a model fitted on arrays, in training order.
    """

    trained_on: Sequence[str]
    card: str | Path | None
    code_ref: str | None
    risk_tier: str | None
    external: bool
    trust_pickle: bool
    features: Sequence[str]


@dataclass(frozen=True)
class PreparedModel:
    """A model version ready to register: its artifact checked, digested and described outside any transaction."""

    ref: Ref
    external: bool
    digest: str | None
    fmt: str | None
    source: Path | None
    info: dict[str, Any]
    card_doc: dict[str, Any] | None
    training: list[Ref]
    code_ref: str | None
    risk_tier: str | None
    trusted_pickle: bool
    provenance: dict[str, Any] | None  # where an imported version came from (ledgered as ``imported_from``)


def with_feature_names(info: dict[str, Any], given: Sequence[str], source: Path) -> dict[str, Any]:
    """The model's input names: its own ``feature_names_in_``, or — for a model fitted on arrays — the ``--feature``
    names given at registration, in training order (checked against ``n_features_in_``). Names that disagree with
    the model's own are refused, never silently ignored."""
    own, given = list(info.get("feature_names") or []), list(given)
    if own and given and own != given:
        raise BadInput(f"{source}: --feature {', '.join(given)} disagrees with the model's own input names "
                       f"({', '.join(own)}); drop --feature or correct it")
    if not own and given:
        expected = int(info.get("n_features") or 0)
        if expected and len(given) != expected:
            raise BadInput(f"{source}: the model takes {expected} input(s) but --feature names {len(given)}")
        if len(set(given)) != len(given):
            raise BadInput(f"{source}: --feature names repeat")
        return {**info, "feature_names": given}
    return info
