"""Numbers as a technician reads them: SI prefixes chosen for the value (µW, mW, W, kW)."""

from __future__ import annotations

import math

_PREFIXES = ((1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"), (1e-6, "µ"), (1e-9, "n"))
DASH = "—"


def is_number(x) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def prefix_for(x: float) -> tuple[float, str]:
    """(scale, prefix) so that x / scale lies in [1, 1000) (µ..G; 0 keeps no prefix)."""
    ax = abs(x)
    if ax == 0 or not math.isfinite(ax):
        return 1.0, ""
    for scale, prefix in _PREFIXES:
        # Round first so that 999.96 W shows as 1.000 kW, not 1000.0 W.
        if float(f"{ax / scale:.4g}") >= 1.0:
            return scale, prefix
    return _PREFIXES[-1]


def si(x, unit: str, digits: int = 4) -> str:
    """``x`` with ``digits`` significant digits and the SI prefix that suits it: 1.234 kW."""
    if not is_number(x):
        return f"{DASH} {unit}".strip()
    scale, prefix = prefix_for(x)
    v = float(f"{x / scale:.{digits}g}")  # rounded first: 0.99999 has the digits of 1.000
    decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(v))))) if v != 0 else digits - 1
    return f"{v:.{decimals}f} {prefix}{unit}"


def range_label(value, unit: str) -> str:
    """A range as the meter's panel prints it: 300 V, 5 mA, 0.5 mA → 500 µA."""
    if not is_number(value):
        return DASH
    scale, prefix = prefix_for(value)
    return f"{value / scale:g} {prefix}{unit}"


def duration(seconds) -> str:
    """1.234 s, 12 min 03.2 s, 2 h 05 min."""
    if not is_number(seconds):
        return DASH
    s = float(seconds)
    if abs(s) < 1.0:
        return si(s, "s")
    if s < 60:
        return f"{s:.3f} s"
    if s < 3600:
        m, r = divmod(s, 60)
        return f"{int(m)} min {r:04.1f} s"
    h, r = divmod(s, 3600)
    return f"{int(h)} h {int(r // 60):02d} min"


def energy(joules) -> str:
    """Energy in J with prefix, and in Wh when that is the more familiar unit."""
    if not is_number(joules):
        return DASH
    text = si(joules, "J")
    if abs(joules) >= 3.6:  # from 1 mWh on, the Wh figure means something to people
        text += f"  ({si(joules / 3600.0, 'Wh')})"
    return text


def percent(fraction, digits: int = 3) -> str:
    if not is_number(fraction):
        return DASH
    return f"{fraction * 100:.{digits}g} %"


def data_size(n_bytes) -> str:
    if not is_number(n_bytes):
        return DASH
    b = float(n_bytes)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if b < 1024 or unit == "TiB":
            return f"{b:.0f} {unit}" if unit == "B" else f"{b:.1f} {unit}"
        b /= 1024
    return DASH


def rate(hz) -> str:
    """Sample rate: 1.000 kS/s."""
    if not is_number(hz):
        return DASH
    return si(hz, "S/s", 4)
