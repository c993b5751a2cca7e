"""JSON that every parser reads: NaN and infinities become null, and the report says where they were.

Python's `json` writes bare `NaN`/`Infinity`, which strict parsers (JavaScript's, jq, most languages')
refuse. A metric is NaN when it has nothing to measure (e.g. the loss on an empty forget set), so the
value is kept as null and its place is listed under `NON_FINITE`.
"""

from __future__ import annotations

import json
import math
from typing import Any

NON_FINITE = "non_finite_values"  # top-level key: JSON paths of the values written as null


def dumps(payload: Any, indent: int | None = 2) -> str:
    """`payload` as strict JSON; when it held NaN or inf (and is a dict), `NON_FINITE` lists where."""
    places: list[str] = []
    clean = _clean(payload, "$", places)
    if places and isinstance(clean, dict):
        clean[NON_FINITE] = places
    return json.dumps(clean, indent=indent, allow_nan=False)


def _clean(value: Any, where: str, places: list[str]) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        places.append(where)
        return None
    if isinstance(value, dict):
        return {k: _clean(v, f"{where}.{k}", places) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v, f"{where}[{i}]", places) for i, v in enumerate(value)]
    return value
