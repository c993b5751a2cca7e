"""Links that share a run: everything needed to re-run it deterministically, plus its headline numbers.

One URL format for the dashboard's address bar and the report's reproduce-link:
`data`, `arch`, `preset`, `seed`, `model` (a checkpoint other than the default), `forget`, `retrain`,
the settings that differ from the preset, `chain` (the earlier requests of a sequential run,
oldest first, each with the settings its user changed: `triangle|seed=0;circle,heart|seed=0|impair.lr=0.02`;
the recipe derives the rest again) and `result` (the headline numbers,
`df=0,dr=87.6375,odf=93.4866,odr=94.3278,t=3.31`). Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

from unsir_core.common.config import numeric_settings

STEP_SEP, PART_SEP = ";", "|"  # between the requests of a chain; between a request's classes and its settings
RESULT_KEYS = {
    "df": "A_Df unlearned",
    "dr": "A_Dr unlearned",
    "odf": "A_Df original",
    "odr": "A_Dr original",
    "t": "unlearning seconds",
}  # the headline numbers a link carries


NUMERIC = numeric_settings()  # settings a link may set: name -> type


def number(v: int | float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def encode_step(forget: Sequence[str], preset: str | None, overrides: Mapping[str, Any]) -> str:
    """One earlier request of a chain: its classes, its preset (when not the link's) and the settings the user
    changed (the seed among them); the recipe derives the rest again, deterministically."""
    return PART_SEP.join(
        [
            ",".join(forget),
            *([f"preset={preset}"] if preset else []),
            *(f"{k}={number(v)}" for k, v in overrides.items()),
        ]
    )


def decode_step(text: str) -> tuple[tuple[str, ...], str | None, dict[str, int | float]]:
    """Inverse of `encode_step`: (classes, preset or None, overrides); ValueError says what is wrong."""
    head, *settings = text.split(PART_SEP)
    forget = tuple(c.strip() for c in head.split(",") if c.strip())
    if not forget:
        raise ValueError(f"the request {text!r} names no class")
    preset, overrides = None, {}
    for pair in settings:
        name, sep, value = pair.partition("=")
        if sep and name == "preset":
            preset = value
        elif sep and name in NUMERIC:
            overrides[name] = NUMERIC[name](value)
        else:
            raise ValueError(f"unknown setting {pair!r} in the request {head!r}")
    return forget, preset, overrides


def headline(report: Mapping[str, Any]) -> dict[str, float]:
    """The numbers a link carries: A_Df and A_Dr before and after as stored (4 decimals: rounding them here too
    would show 93.7456 as 93.8 beside a card's 93.7), and the unlearning time."""
    m = report["metrics"]
    return {
        "df": m["repair"]["forget_acc"],
        "dr": m["repair"]["retain_acc"],
        "odf": m["original"]["forget_acc"],
        "odr": m["original"]["retain_acc"],
        "t": round(report["timings_s"]["unlearn"], 2),
    }


def encode_result(numbers: Mapping[str, float]) -> str:
    return ",".join(f"{k}={number(float(v))}" for k, v in numbers.items())


def decode_result(text: str) -> dict[str, float] | None:
    """The numbers of a `result` parameter, or None when it is damaged."""
    try:
        numbers = {k: float(v) for k, v in (pair.split("=", 1) for pair in text.split(","))}
    except ValueError:
        return None
    return numbers if set(numbers) == set(RESULT_KEYS) else None


def run_query(report: Mapping[str, Any]) -> dict[str, str]:
    """The link parameters of a run JSON (CLI or dashboard): setup, earlier requests and headline numbers."""
    preset = report.get("preset", "auto")
    q = {"data": report["dataset"], "arch": report["arch"], "preset": preset, "seed": str(report["config"]["seed"])}
    q.update({k: number(v) for k, v in report.get("overrides", {}).items() if k != "seed"})
    root = report.get("extras", {}).get("root", "")
    if root:
        q["model"] = root
    q["forget"] = ",".join(report["forget"])
    if "retrain" in report["metrics"]:
        q["retrain"] = "auto"
    earlier = report.get("extras", {}).get("lineage", [])
    if earlier:
        q["chain"] = STEP_SEP.join(
            encode_step(
                r["forget"],
                r.get("preset") if r.get("preset") != preset else None,
                {"seed": r["seed"], **r.get("overrides", {})},
            )
            for r in earlier
        )
    q["result"] = encode_result(headline(report))
    return q


def link(report: Mapping[str, Any], base_url: str) -> str:
    return f"{base_url.rstrip('/')}/?{urlencode(run_query(report))}"
