"""Persistence. All SQL in Countersign lives in this package.

Domain modules call the repository methods of a transaction object (:class:`core.storage.duckdb_store.Tx`) and
exchange driver-independent records (:mod:`core.storage.records`). Names are imported on first use (lazy_loader),
so the records import no database driver; the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
