"""Public names of :mod:`core.reports` (read by lazy_loader and by type checkers)."""

from . import junit as junit, outcomes as outcomes, sarif as sarif, text as text, writing as writing
from .junit import junit_xml as junit_xml
from .outcomes import CheckOutcome as CheckOutcome, check_outcomes as check_outcomes
from .sarif import sarif_log as sarif_log
from .writing import PreparedReports as PreparedReports, prepare_reports as prepare_reports
