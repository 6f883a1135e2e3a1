"""Public names of :mod:`core.catalog` (read by lazy_loader and by type checkers)."""

from . import artifacts as artifacts, documents as documents, hashing as hashing, openlineage as openlineage
from .datasets import Ref as Ref, parse_ref as parse_ref
from .lineage import LineageService as LineageService
from .prepared import PreparedModel as PreparedModel
from .registry import RegistryService as RegistryService, dataset_node as dataset_node, model_node as model_node
