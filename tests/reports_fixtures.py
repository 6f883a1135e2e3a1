"""Fixtures for the CI reports' tests (a pytest plugin of tests/conftest.py): a real evaluation to report on — an
external model's prediction log (Parquet) evaluated by dana against a policy file in a repository checkout, with
checks that pass and fail (blocking and warning), and a column whose name carries terminal control and XML-forbidden
characters."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.api.countersign import Countersign
from tests.conftest import USERS

#: A column name no report may carry raw: an ANSI colour sequence and U+FFFE (not a character XML 1.0 allows).
HOSTILE = "x\x1b[31m\ufffe"

POLICY = """\
policy: ci-gate
version: 1
checks:
  - {id: acc, metric: accuracy, gte: 0.5, missing: drop}
  - id: auc-high
    metric: roc_auc
    gte: 0.99
    missing: drop
  - {id: dp-warn, fairness: demographic_parity_difference, sensitive_feature: g, lte: 0.0001, min_group_size: 1,
     missing: drop, severity: warn}

  - {id: drift, drift: psi, columns: ["x\\e[31m\\uFFFE"], max_drifted_share: 0.0}
  - {id: card, documentation: model_card, required: [intended_use]}
"""
#: Each check's own line in POLICY (1-based), read off the text above.
LINES = {"acc": 4, "auc-high": 5, "dp-warn": 9, "drift": 12, "card": 13}
FAILING = {"auc-high": "block", "dp-warn": "warn", "drift": "block", "card": "block"}


def _log(rng: np.random.Generator, n: int, shift: float) -> pa.Table:
    score = rng.random(n)
    return pa.table({"y": (rng.random(n) < score).astype(np.int64), "p": (score > 0.5).astype(np.int64),
                     "s": score, "g": rng.choice(["a", "b"], n), HOSTILE: rng.normal(shift, 1, n)})


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A repository checkout holding ``policies/gate.yaml`` (CI runs from the checkout's root)."""
    root = tmp_path / "repo"
    (root / "policies").mkdir(parents=True)
    (root / "policies" / "gate.yaml").write_text(POLICY)
    return root


@pytest.fixture
def logged(populated: Countersign, tmp_path: Path) -> dict[str, Any]:
    """dana's external model ``vendor@1`` trained on ``train@1``, with a shifted prediction log ``log@1``."""
    rng = np.random.default_rng(3)
    pq.write_table(_log(rng, 600, 0.0), tmp_path / "train.parquet")
    pq.write_table(_log(rng, 800, 2.0), tmp_path / "log.parquet")
    dana = populated.login("dana", USERS["dana"][1])
    populated.register_dataset(dana, tmp_path / "train.parquet", name="train", version="1")
    populated.register_dataset(dana, tmp_path / "log.parquet", name="log", version="1")
    populated.register_model(dana, None, name="vendor", version="1", trained_on=["train@1"], external=True,
                             features=[HOSTILE])
    return {"cs": populated, "dana": dana}


def waive(cs: Countersign, policy_file: Path, check: str) -> dict[str, Any]:
    """Register ``policy_file``, make it govern ``vendor``, have chloe waive ``check`` of ``vendor@1`` for 30 days."""
    chloe = cs.login("chloe", USERS["chloe"][1])
    cs.add_policy(chloe, policy_file)
    cs.assign_policy(chloe, "vendor", "ci-gate")
    until = (date.today() + timedelta(days=30)).isoformat()
    return cs.waive(chloe, "vendor@1", check=check, until=until, justification="Vendor retrains next month.")
