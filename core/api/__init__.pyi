"""Public names of :mod:`core.api` (read by lazy_loader and by type checkers)."""

from . import accounts as accounts, audit as audit, context as context, inventory as inventory
from .accounts import AccountService as AccountService
from .audit import AuditService as AuditService
from .context import Context as Context
from .countersign import Countersign as Countersign
from .inventory import InventoryService as InventoryService
from .site_copy import copy_site as copy_site
