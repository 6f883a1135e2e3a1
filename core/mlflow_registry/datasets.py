"""The datasets an MLflow run logged, as Countersign lineage: registered by content when possible, else by reference.

MLflow's dataset digest is not a content hash (an MD5 over the first 10,000 rows and the row count, as pandas sees
them), and a run's ``local`` source is only a path that may have changed since. A logged dataset is registered by
its content only when all of this holds:

* its source is ``local`` with an absolute path inside the ``data_root`` the importing user names (nothing outside
  it is read), to a CSV or Parquet file Countersign can register;
* the file is at most :data:`MAX_DIGEST_CHECK_BYTES`, and MLflow's own digest function over it gives the digest the
  run logged — so the file is what the run saw.

Any other dataset becomes a reference node ``mlflow-dataset:…`` holding MLflow's name, digest, source and why it
was not registered by content. A registered dataset is ``NAME@<first 12 hex digits of its SHA-256>``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from core.catalog import datasets as catalog
from core.catalog.datasets import DatasetFacts, Ref
from core.display.text import visible
from core.errors import BadInput
from core.mlflow_registry.client import DatasetInput
from core.mlflow_registry.names import countersign_name, dataset_reference_node

__all__ = ["MATCHED_BY", "MAX_DIGEST_CHECK_BYTES", "PlannedDataset", "plan_dataset"]

#: Files above this are not read into pandas to recompute MLflow's digest (they stay references).
MAX_DIGEST_CHECK_BYTES = 256 * 1024 * 1024
#: What "the file is what the run saw" rests on, recorded with each dataset registered by content.
MATCHED_BY = ("MLflow's own digest over the file today equals the one the run logged: it covers the row count, the "
              "column names and the first 10,000 rows of the numeric and text columns (not boolean or other columns)")
#: MLflow's context tag values that mean the model was fitted on the dataset.
TRAINING_CONTEXTS = ("training", "train")


@dataclass(frozen=True)
class PlannedDataset:
    """A logged dataset and how it enters Countersign: ``ref``/``facts`` when registered by content, else a
    reference node with ``note`` saying why."""

    logged: DatasetInput
    training: bool
    ref: Ref | None
    facts: DatasetFacts | None
    node: str
    note: str | None


def plan_dataset(logged: DatasetInput, label: str, data_root: Path | None) -> PlannedDataset:
    """Decide how ``logged`` enters Countersign (see the module's description)."""
    training = logged.context is None or logged.context.lower() in TRAINING_CONTEXTS
    reference = dataset_reference_node(label, logged.name, logged.digest)
    path = logged.local_path()
    if data_root is None:
        note = "no --data-root given: MLflow's record only"
    elif path is None:
        note = (f"its source is {visible(logged.source_type)}, not a local file" if logged.source_type != "local"
                else "its local source is not an absolute path")
    else:
        note, facts = _by_content(logged, path, data_root)
        if facts is not None:
            ref = catalog.validate_name(countersign_name(logged.name), facts.digest[:12])
            return PlannedDataset(logged, training, ref, facts, f"dataset:{ref}", None)
    return PlannedDataset(logged, training, None, None, reference, note)


def _by_content(logged: DatasetInput, path: Path, data_root: Path) -> tuple[str, DatasetFacts | None]:
    real = Path(os.path.realpath(path))
    root = Path(os.path.realpath(data_root))
    if not real.is_relative_to(root):
        return f"{visible(str(path))} is outside --data-root {visible(str(data_root))}", None
    if not real.exists():
        return f"{visible(str(path))} is no longer there", None
    if not real.is_file():
        return f"{visible(str(path))} is not a regular file", None
    if real.stat().st_size > MAX_DIGEST_CHECK_BYTES:
        return f"{visible(str(path))} is over {MAX_DIGEST_CHECK_BYTES} bytes: MLflow's digest was not re-checked", None
    try:
        facts = catalog.inspect(real)
    except BadInput as refused:
        return f"{visible(str(path))} cannot be registered: {refused.message}", None
    digest = _mlflow_digest(real, facts.format)
    if digest != logged.digest:
        return (f"{visible(str(path))} now has MLflow digest {digest}, the run logged {visible(logged.digest)}: "
                "the file changed since (or was logged with other types)"), None
    return "", facts


def _mlflow_digest(path: Path, fmt: str) -> str | None:
    """MLflow's pandas digest of the file, as ``mlflow.data.from_pandas`` computes it."""
    import pandas as pd
    from mlflow.data.digest_utils import compute_pandas_digest

    try:
        frame = pd.read_parquet(path) if fmt == "parquet" else pd.read_csv(path)
    except (ValueError, OSError):
        return None
    return str(compute_pandas_digest(frame))
