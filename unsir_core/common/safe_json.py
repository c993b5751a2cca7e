"""JSON read from untrusted files (checkpoint headers and their metadata): size and nesting depth are bounded
before the parser runs, so a forged header costs little and never reaches Python's recursion limit.

Python's parser recurses once per nesting level: a header nested 100,000 deep raised RecursionError, a
traceback rather than an answer. Here the depth is counted first, on the brackets outside strings, and
stops counting at the first level too deep.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_DEPTH = 32  # a checkpoint's metadata nests about 8 deep (details.lineage[].config.impair.frozen)
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')  # a JSON string, escapes included (brackets inside don't count)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def loads(data: bytes | str, max_bytes: int, what: str) -> Any:
    """`json.loads(data)`, after checking that `data` has at most `max_bytes` and nests at most MAX_DEPTH deep;
    ValueError naming `what` otherwise (as for JSON that does not parse)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if len(raw) > max_bytes:
        raise ValueError(f"{what} has {len(raw):,} bytes, more than the {max_bytes:,} allowed")
    if too_deep(raw, MAX_DEPTH):
        raise ValueError(f"{what} is nested more than {MAX_DEPTH} levels deep")
    return json.loads(raw)


def too_deep(raw: bytes, limit: int) -> bool:
    """Whether the JSON text `raw` opens more than `limit` arrays or objects inside each other."""
    depth = 0
    for b in _STRING.sub(b'""', raw).translate(None, _NOT_BRACKETS):
        depth += 1 if b in b"[{" else -1
        if depth > limit:
            return True
    return False
