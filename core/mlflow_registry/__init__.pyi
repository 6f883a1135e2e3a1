"""Public names of :mod:`core.mlflow_registry` (read by lazy_loader and by type checkers)."""

from . import (
    aliases as aliases,
    check as check,
    client as client,
    datasets as datasets,
    environment as environment,
    identity as identity,
    importer as importer,
    model_dir as model_dir,
    names as names,
    service as service,
)
from .aliases import DEFAULT_ALIASES as DEFAULT_ALIASES
from .names import countersign_name as countersign_name, server_label as server_label
from .service import MlflowService as MlflowService
