"""Evaluation: one policy applied to one model on one dataset: labels, performance and fairness metrics from
sufficient statistics, drift, explanations, the sandbox for trusted pickles, and the words that explain each number.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
