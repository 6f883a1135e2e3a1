"""Public names of :mod:`core.releases` (read by lazy_loader and by type checkers)."""

from . import (
    clock as clock,
    gate as gate,
    history as history,
    inbox as inbox,
    review as review,
    separation as separation,
    waivers as waivers,
    webhooks as webhooks,
)
from .gate import AnswerRefused as AnswerRefused, GateRefused as GateRefused
from .history import HistoryService as HistoryService
from .inbox import InboxService as InboxService
from .promotions import STAGES as STAGES, ReleaseService as ReleaseService
from .waivers import WaiverService as WaiverService
