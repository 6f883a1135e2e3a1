"""Public names of :mod:`core.evaluation` (read by lazy_loader and by type checkers)."""

from .engine import EvalInputs as EvalInputs
from .engine import Evaluator as Evaluator
from .engine import compare as compare
from .sandbox import IsolatedModel as IsolatedModel
from .sandbox import SandboxError as SandboxError
