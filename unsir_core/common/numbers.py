"""One number, one rounding: every figure the pages, the exports and the reports show is rounded here.

Round half up on the decimal value as stored (93.75 -> 93.8, 93.25 -> 93.3), the same everywhere. Python's
`f"{x:.1f}"` rounds a binary tie to even (93.25 -> 93.2) while a browser's chart labels round it up, and a
number rounded twice (to 2 decimals for a link, then to 1 for a card: 93.7456 -> 93.75 -> 93.8) can differ
from the same number rounded once (93.7): so a figure is rounded once, from the stored value, by `fixed`, and
charts get their labels as text from here rather than as a format string of their own. Torch-free.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

PCT_DIGITS = 1  # decimals of an accuracy or a rate shown in %
SCORE_DIGITS = 3  # decimals of a score in [0, 1] (ToW, the privacy score, JS divergence)
MISSING = "—"  # what a figure that was not measured shows (never a zero)


def rounded(value: float, digits: int) -> float:
    """`value` rounded half up to `digits` decimals (of its shortest decimal form, as stored)."""
    return float(Decimal(repr(float(value))).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP))


def fixed(value: float | None, digits: int) -> str:
    """'93.8' for (93.75, 1); MISSING for None or a value that is not finite; never '-0.0'."""
    if value is None or not math.isfinite(value):
        return MISSING
    r = rounded(value, digits)
    return f"{r if r else 0.0:.{digits}f}"  # -0.0 shows as 0


def pct(value: float | None, digits: int = PCT_DIGITS) -> str:
    """An accuracy or a rate in %: 93.456 -> '93.5%'; a value that rounds to 0 -> '0%'."""
    text = fixed(value, digits)
    if text == MISSING:
        return text
    return "0%" if rounded(value, digits) == 0 else text + "%"


def pp(delta: float | None, digits: int = PCT_DIGITS) -> str:
    """A signed difference of two percentages: '+1.2 pp', '-0.4 pp'."""
    text = fixed(delta, digits)
    return text if text == MISSING else ("" if text.startswith("-") else "+") + text + " pp"


def share(ratio: float) -> str:
    """A ratio as a whole percentage: 0.9512 -> '95%'."""
    return f"{fixed(ratio * 100, 0)}%"


def score(value: float | None) -> str:
    """A score in [0, 1] (ToW, the privacy score, JS divergence) with SCORE_DIGITS decimals."""
    return fixed(value, SCORE_DIGITS)
