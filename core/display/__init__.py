"""Display of values and user text: user text made visible (never markup, never control characters) and values in
the words reviewers and regulators read.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
