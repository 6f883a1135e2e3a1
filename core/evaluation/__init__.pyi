"""Public names of :mod:`core.evaluation` (read by lazy_loader and by type checkers)."""

from . import drift as drift, explain as explain, explanations as explanations, labels as labels, metrics as metrics
from .engine import EvalInputs as EvalInputs, Evaluator as Evaluator, compare as compare
from .sandbox import IsolatedModel as IsolatedModel, SandboxError as SandboxError
