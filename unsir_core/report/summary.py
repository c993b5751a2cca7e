"""A run in plain words, for people who were not at the keyboard.

`summarize(report)` reads only the run's JSON (`UnsirRun.to_json()`, as the CLI writes it and the
dashboard keeps it), so the pages, every export and the CLI report say the same thing. The wording
follows the numbers: whether the forget classes are gone, where their images go now (and where the
retrained gold standard sends them, when there is one), how much of the retain accuracy is left,
and how long it took. A chained request names what the starting model had already forgotten, and a
run flagged as degraded leads with that warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unsir_core.common.vocabulary import stage_title

FORGOTTEN_BELOW = 5.0  # A_Df (%) under which the classes count as forgotten
PARTLY_BELOW = 20.0  # A_Df (%) under which they count as mostly forgotten
KEPT_WELL = 0.9  # share of the original's A_Dr above which the retain classes "keep" their accuracy
SHOWN_SHARE = 10.0  # % of the forget images a class must get to be named as where they go


def plural(name: str) -> str:
    """'triangle' -> 'triangles', 'cross' -> 'crosses'; names with digits or spaces become '"x" images'."""
    if any(ch.isdigit() or ch.isspace() for ch in name):
        return f'"{name}" images'
    return name + ("es" if name.endswith(("s", "x", "sh", "ch")) else "s")


def join(items: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def pct(value: float) -> str:
    """93.456 -> '93.5%', 0.0 -> '0%'."""
    return "0%" if abs(value) < 0.05 else f"{value:.1f}%"


def seconds(s: float) -> str:
    if s < 60:
        return f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def class_names(report: Mapping[str, Any]) -> list[str]:
    """Class names in class order (the prediction distribution is keyed by them)."""
    return list(report.get("class_names") or report["prediction_distribution"])


def request_acc(report: Mapping[str, Any], stage: str) -> float:
    """A_Df of `stage` on this request's classes only (a chained run's A_Df also counts earlier ones)."""
    ev = report["metrics"][stage]
    forget = report["forget_indices"]
    if sorted(forget) == sorted(class_names(report).index(c) for c in report["forgotten_total"]):
        return ev["forget_acc"]
    return sum(ev["per_class_acc"][c] for c in forget) / len(forget)


def destinations(distribution: Sequence[int], names: Sequence[str], limit: int = 2) -> list[str]:
    """The (up to `limit`) classes that get at least SHOWN_SHARE % of the forget images: 'arrow (50%)'."""
    total = sum(distribution) or 1
    ranked = sorted(range(len(names)), key=lambda c: -distribution[c])
    return [
        f"{names[c]} ({distribution[c] / total:.0%})"
        for c in ranked[:limit]
        if distribution[c] / total * 100 >= SHOWN_SHARE
    ]


def degraded_message(report: Mapping[str, Any]) -> str | None:
    """The collapse guard's message when it marked the run degraded (`UnsirRun.to_json`), else None."""
    if not report.get("degraded"):
        return None
    return (report.get("repair_check") or {}).get("message") or "the collapse guard marked it degraded"


def summarize(report: Mapping[str, Any], degraded: str | None = None) -> str:
    """The run in a few sentences (Markdown-free plain text). `degraded` is a warning to lead with; by default
    the collapse guard's message when it marked the run degraded."""
    degraded = degraded or degraded_message(report)
    m, names = report["metrics"], class_names(report)
    forget = [plural(n) for n in report["forget"]]
    out: list[str] = []
    if degraded:
        out.append(
            f"Warning: this run was flagged as degraded ({degraded.rstrip('.')}). Do not read the numbers "
            "below as a successful unlearning."
        )
    earlier = [n for n in report["forgotten_total"] if n not in report["forget"]]
    if earlier and "start" in m:
        out.append(f"This request started from a model that had already forgotten {join(earlier)}.")
    before, after = request_acc(report, "original"), request_acc(report, "repair")
    if after < FORGOTTEN_BELOW:
        out.append(f"The model no longer recognises {join(forget)}: {pct(after)} (was {pct(before)}).")
    elif after < PARTLY_BELOW:
        out.append(f"The model mostly forgot {join(forget)}: {pct(after)} are still recognised (was {pct(before)}).")
    else:
        out.append(
            f"The model still recognises {join(forget)}: {pct(after)} (was {pct(before)}): forgetting is incomplete."
        )
    where = destinations(m["repair"]["prediction_distribution"], names)
    if where:
        sentence = f"It now calls them {join(where)}"
        if "retrain" in m:
            gold = destinations(m["retrain"]["prediction_distribution"], names)
            sentence += (
                f"; the model retrained without {join(forget)} calls them {join(gold)}"
                if gold
                else "; the retrained model spreads them over many classes"
            )
        else:
            sentence += "; no retrained model was trained to compare with"
        out.append(sentence + ".")
    original, unlearned = m["original"]["retain_acc"], m["repair"]["retain_acc"]
    kept = unlearned / original if original else 0.0
    base = stage_title("original").lower()
    if kept >= KEPT_WELL:
        out.append(
            f"The other classes keep {kept:.0%} of their accuracy ({pct(unlearned)} vs {pct(original)} for the "
            f"{base} model)."
        )
    else:
        out.append(
            f"The other classes lost a lot: they keep only {kept:.0%} of their accuracy ({pct(unlearned)} vs "
            f"{pct(original)} for the {base} model). A lower impair learning rate or more repair usually "
            "helps."
        )
    if "retrain" in m:
        out.append(f"The retrained model reaches {pct(m['retrain']['retain_acc'])} on them.")
    t = report["timings_s"]
    reference = report.get("extras", {}).get("retrain_estimate_s")
    took = f"Unlearning took {seconds(t['unlearn'])} on {report.get('device', 'this device')}"
    stored = report.get("extras", {}).get("reference") or {}
    if "retrain" in t:
        took += f"; retraining took {seconds(t['retrain'])}"
    elif stored.get("reused") and stored.get("train_s"):
        took += f"; retraining took {seconds(stored['train_s'])} when the stored reference was made"
    elif reference:
        took += f", against about {seconds(reference)} to retrain"
    out.append(took + ".")
    return " ".join(out)
