"""User input, bounded: size and shape limits checked before any work, and YAML documents validated with errors that
name file, line and field.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
