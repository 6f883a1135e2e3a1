"""Evidence for regulators: the signed report (PDF/HTML), evidence bundles with in-toto/DSSE attestations, their
stand-alone offline verifier, model-card exports and the regulatory index.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
