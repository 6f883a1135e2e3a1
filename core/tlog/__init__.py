"""Transparency-log primitives: RFC 6962/9162 Merkle trees and proofs, C2SP signed notes and checkpoints,
RFC 8785 canonical JSON and Ed25519 signing. No database and no domain: the offline verifier is built from these.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
