"""Policies: the written rules a model is held to (YAML validated by pydantic, versioned, immutable) and their
service operations (policy versions, evaluating a model, reading a result).

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
