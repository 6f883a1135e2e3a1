"""User text as report text: every string a report takes from an evaluation (names, column names, reasons) is shown
as :func:`core.display.text.visible` shows it (control, format and separator characters as visible escapes), and
what XML 1.0 cannot carry at all (noncharacters such as U+FFFE) is escaped too, so a report is always well-formed and
never carries terminal control sequences into a CI log."""

from __future__ import annotations

import re

from core.display.text import visible

__all__ = ["report_text"]

#: Characters outside XML 1.0's ``Char`` production (after :func:`visible` has escaped the C0/C1 controls).
_NOT_XML = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def report_text(value: object) -> str:
    """``str(value)`` made visible (:func:`core.display.text.visible`) and safe for XML 1.0 and JSON."""
    return _NOT_XML.sub(lambda m: f"\\u{ord(m.group()):04x}", visible(value))
