"""The ledger: append-only, hash-chained, signed entries (one per state change, in the change's transaction), the
service key, signed checkpoints and full verification to the standard of a Certificate Transparency monitor.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
