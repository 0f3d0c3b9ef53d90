"""How many inputs the fuzz tests give each parser, counted for the report at the end of the run.

``STATION_FUZZ_EXAMPLES`` sets how many inputs each test tries (default 300; the nightly /
soak setting is 20000).
"""

from __future__ import annotations

import os
from collections import Counter

EXAMPLES = int(os.environ.get("STATION_FUZZ_EXAMPLES", "300"))

TRIED: Counter = Counter()


def tried(parser: str) -> None:
    """Count one input given to ``parser``."""
    TRIED[parser] += 1
