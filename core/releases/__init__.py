"""Releases: promotion requests behind the policy gate, approvals with separation of duties, change requests and
threads, waivers, suspension, monitoring, and the webhooks outbox that announces them.

Names are imported on first use (lazy_loader), so importing one module of this package imports nothing else;
the public names are listed in ``__init__.pyi``.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
