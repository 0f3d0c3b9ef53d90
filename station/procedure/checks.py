"""Live checks while a procedure run records: :class:`LiveChecks` over the rule modules.

The rules, each with its live and final form, live in :mod:`station.measurement.checks`; this
module keeps the procedure's import path.
"""

from station.measurement.checks import FAIL, PASS, PENDING, WARN, Check
from station.measurement.checks.live import LiveChecks

__all__ = ["FAIL", "PASS", "PENDING", "WARN", "Check", "LiveChecks"]
