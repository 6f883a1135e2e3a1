"""Real demo data and models: UCI Adult and Statlog German credit, cleaned, and scikit-learn models trained on them.

Raw files ship in the repository's ``data/`` folder (see ``data/NOTICE.md``). Preparation is deterministic, so the
prepared files — and therefore their registered digests — are the same on every machine.

* Adult (Becker & Kohavi, 1996): rows with ``?`` dropped (30,162 train + 15,060 test), whitespace stripped, the
  test file's comment line and label dots removed; label ``income_over_50k`` (1 if ``>50K``).
* German credit (Hofmann, 1994): codes decoded with ``values_maps.json``; ``sex`` split out of ``status_sex``;
  label ``good_credit`` (1 = good, 0 = bad).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parents[2] / "data"

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
                 "relationship", "race", "sex", "capital_gain", "capital_loss", "hours_per_week", "native_country",
                 "income_over_50k"]
ADULT_NUMERIC = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
ADULT_CATEGORICAL = ["workclass", "marital_status", "occupation", "relationship", "race", "native_country"]
ADULT_LABEL = "income_over_50k"

GERMAN_COLUMNS = ["status", "duration", "credit_history", "purpose", "credit_amount", "savings",
                  "present_employment", "installment_rate", "status_sex", "other_debtors", "present_residence",
                  "property", "age", "installment_plans", "housing", "number_of_credits", "job", "people_liable",
                  "telephone", "foreign_worker", "credit"]
GERMAN_NUMERIC = ["duration", "credit_amount", "installment_rate", "present_residence", "age", "number_of_credits",
                  "people_liable"]
GERMAN_CATEGORICAL = ["status", "credit_history", "purpose", "savings", "present_employment", "other_debtors",
                      "property", "installment_plans", "housing", "job", "telephone", "foreign_worker"]
GERMAN_LABEL = "good_credit"


def prepare_adult(source: Path, target: Path) -> int:
    """Clean one Adult file into a headed CSV; return the number of rows written."""
    rows = 0
    with source.open(encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(ADULT_COLUMNS)
        for line in src:
            if not line.strip() or line.startswith("|"):
                continue
            values = [v.strip() for v in line.split(",")]
            if len(values) != len(ADULT_COLUMNS) or "?" in values:
                continue
            values[-1] = "1" if values[-1].rstrip(".") == ">50K" else "0"
            writer.writerow(values)
            rows += 1
    return rows


def prepare_german(source: Path, maps_file: Path, target: Path) -> int:
    maps: dict[str, dict[str, str]] = json.loads(maps_file.read_text(encoding="utf-8"))
    columns = [c for c in GERMAN_COLUMNS if c not in ("status_sex", "credit")] + ["sex", "personal_status",
                                                                                   GERMAN_LABEL]
    rows = 0
    with source.open(encoding="utf-8") as src, target.open("w", newline="", encoding="utf-8") as dst:
        writer = csv.writer(dst, lineterminator="\n")
        writer.writerow(columns)
        for line in src:
            values = line.split()
            if len(values) != len(GERMAN_COLUMNS):
                continue
            record = dict(zip(GERMAN_COLUMNS, values, strict=True))
            for column, mapping in maps.items():
                if column in record and column != "credit":
                    record[column] = str(mapping.get(record[column], record[column])).strip()
            sex, _, personal = record.pop("status_sex").partition(":")
            record["sex"], record["personal_status"] = sex.strip(), personal.strip()
            record[GERMAN_LABEL] = "1" if record.pop("credit") == "1" else "0"
            writer.writerow([record[c] for c in columns])
            rows += 1
    return rows


def prepare_all(workdir: Path) -> dict[str, Path]:
    """Write the prepared CSV files into ``workdir``; return their paths by name."""
    workdir.mkdir(parents=True, exist_ok=True)
    out = {"adult-train": workdir / "adult_train.csv", "adult-test": workdir / "adult_test.csv",
           "german-credit": workdir / "german_credit.csv"}
    prepare_adult(DATA_DIR / "adult" / "adult.data", out["adult-train"])
    prepare_adult(DATA_DIR / "adult" / "adult.test", out["adult-test"])
    prepare_german(DATA_DIR / "german-credit" / "german.data", DATA_DIR / "german-credit" / "values_maps.json",
                   out["german-credit"])
    return out


def _pipeline(numeric: list[str], categorical: list[str], estimator: Any) -> Any:  # noqa: ANN401
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer([("num", StandardScaler(), numeric),
                             ("cat", OneHotEncoder(handle_unknown="ignore", sparse_output=False), categorical)])
    return Pipeline([("preprocess", pre), ("model", estimator)])


def train_models(prepared: dict[str, Path], out_dir: Path, only: set[str] | None = None) -> dict[str, Path]:
    """Train the demo models (or ``only`` some of them) and save them with skops; return artifact paths by key."""
    import pandas as pd
    import skops.io as sio
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    out_dir.mkdir(parents=True, exist_ok=True)
    adult = pd.read_csv(prepared["adult-train"]) if "adult-train" in prepared else None
    german = pd.read_csv(prepared["german-credit"])
    specs = {
        "adult-logreg": (adult, ADULT_NUMERIC, ADULT_CATEGORICAL, ADULT_LABEL,
                         LogisticRegression(max_iter=1000)),
        "adult-hgb": (adult, ADULT_NUMERIC, ["workclass", "marital_status", "occupation", "relationship"],
                      ADULT_LABEL, HistGradientBoostingClassifier(max_iter=80, random_state=0)),
        "german-logreg": (german, GERMAN_NUMERIC, GERMAN_CATEGORICAL, GERMAN_LABEL,
                          LogisticRegression(max_iter=2000)),
        "german-logreg-l1": (german, GERMAN_NUMERIC, GERMAN_CATEGORICAL, GERMAN_LABEL,
                             LogisticRegression(max_iter=2000, C=0.5, solver="liblinear", l1_ratio=1.0)),
    }
    paths = {}
    for key, (frame, numeric, categorical, label, estimator) in specs.items():
        if only is not None and key not in only:
            continue
        model = _pipeline(numeric, categorical, estimator).fit(frame[numeric + categorical], frame[label])
        paths[key] = out_dir / f"{key}.skops"
        sio.dump(model, paths[key])
    return paths
