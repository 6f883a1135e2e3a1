"""Public names of :mod:`core.catalog` (read by lazy_loader and by type checkers)."""

from .datasets import Ref as Ref
from .datasets import parse_ref as parse_ref
from .lineage import LineageAPI as LineageAPI
from .registry import RegistryAPI as RegistryAPI
from .registry import dataset_node as dataset_node
from .registry import model_node as model_node
