"""A run in plain words, for people who were not at the keyboard.

`summarize(report, audits)` reads only the run's JSON (`UnsirRun.to_json()`, as the CLI writes it and the
dashboard keeps it) and the audits computed on it (the Runs page's JSON carries them as "audits"), so the
pages, every export and the CLI report say the same thing. It leads with the verdict (`metrics.verdict`): how
close the unlearned model is to the retrained one in the decision and, when probed, in the features; then
against relearning, for privacy, at what cost to the rest, what was not measured, ToW and JS; then where the
forget images go now (and where the retrained gold standard sends them) and how long it took. A chained
request names what the starting model had already forgotten, and a run flagged as degraded leads with that
warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unsir_core.common.numbers import share
from unsir_core.metrics.relearn import crossing
from unsir_core.metrics.verdict import Evidence, Measure, Verdict, verdict

KEPT_WELL = 0.9  # share of the original's A_Dr under which the summary advises a gentler impair
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
        f"{names[c]} ({share(distribution[c] / total)})"
        for c in ranked[:limit]
        if distribution[c] / total * 100 >= SHOWN_SHARE
    ]


def degraded_message(report: Mapping[str, Any]) -> str | None:
    """The collapse guard's message when it marked the run degraded (`UnsirRun.to_json`), else None."""
    if not report.get("degraded"):
        return None
    return (report.get("repair_check") or {}).get("message") or "the collapse guard marked it degraded"


def _three(report: Mapping[str, Any], read, kind: str = "pct") -> Measure:
    """`read(stage)` of the unlearned ("repair"), original and (when trained) retrained model."""
    m = report["metrics"]
    return Measure(read("repair"), read("original"), read("retrain") if "retrain" in m else None, kind)


def _audit(
    audits: Mapping[str, Any], name: str, read, kind: str = "pct", fixed: Mapping[str, float] = {}
) -> Measure | None:
    """`read(result)` of each model in the audit `name` ({stage: result}); None when it was not computed or
    lacks the unlearned model. `fixed` gives figures that hold by definition (the retrained model's own score)."""
    result = audits.get(name) or {}
    if "repair" not in result:
        return None
    value = {s: read(result[s]) if s in result else fixed.get(s) for s in ("repair", "original", "retrain")}
    return Measure(value["repair"], value["original"], value["retrain"], kind)


def _relearning(audits: Mapping[str, Any]) -> Measure | None:
    """Epochs until relearned (the curve's first crossing of the target; the cap when it never crossed)."""
    result = audits.get("relearn") or {}
    if "repair" not in result:
        return None
    epochs, capped = {"original": 0.0}, set()
    for stage, who in (("repair", "unlearned"), ("retrain", "retrained")):
        if stage in result:
            curve = result[stage]
            hit = crossing(curve["history_epochs"], curve["history"], result["target"])
            epochs[who] = float(curve["history_epochs"][-1] if hit is None else hit)
            if hit is None:
                capped.add(who)
    return Measure(epochs["unlearned"], 0.0, epochs.get("retrained"), "epochs", frozenset(capped))


def evidence(report: Mapping[str, Any], audits: Mapping[str, Any] | None = None) -> Evidence:
    """The verdict's evidence from a run JSON and the audits computed on it (default: its "audits")."""
    audits = (report.get("audits") or {}) if audits is None else audits
    mia = audits.get("mia") or {}
    return Evidence(
        forget=join([plural(n) for n in report["forget"]]),
        decision=_three(report, lambda s: request_acc(report, s)),
        cost=_three(report, lambda s: report["metrics"][s]["retain_acc"]),
        test=_three(report, lambda s: report["metrics"][s]["overall_acc"]),
        features=_audit(audits, "probe", lambda r: r["forget_acc"]),
        relearning=_relearning(audits),
        privacy=_audit(audits, "privacy", lambda r: r["score"], "score", {"retrain": 1.0}),
        membership=_audit(audits, "mia", lambda r: r["forget_member_rate"]),
        membership_at_chance=bool(mia) and all(r["at_chance"] for r in mia.values()),
        js=_audit(audits, "closeness", lambda r: r["js"], "score", {"retrain": 0.0}),
    )


def run_verdict(report: Mapping[str, Any], audits: Mapping[str, Any] | None = None) -> Verdict:
    """The verdict on a run (see `evidence`)."""
    return verdict(evidence(report, audits))


def summarize(report: Mapping[str, Any], degraded: str | None = None, audits: Mapping[str, Any] | None = None) -> str:
    """The run in a few sentences (Markdown-free plain text), the verdict first. `degraded` is a warning to lead
    with; by default the collapse guard's message when it marked the run degraded. `audits`: the audits computed
    on the run (default: the report's "audits")."""
    degraded = degraded or degraded_message(report)
    m, names = report["metrics"], class_names(report)
    forget = [plural(n) for n in report["forget"]]
    found = run_verdict(report, audits)
    out: list[str] = []
    if degraded:
        out.append(
            f"Warning: this run was flagged as degraded ({degraded.rstrip('.')}). Do not read the numbers "
            "below as a successful unlearning."
        )
    out += found.headline()
    earlier = [n for n in report["forgotten_total"] if n not in report["forget"]]
    if earlier and "start" in m:
        out.append(f"This request started from a model that had already forgotten {join(earlier)}.")
    out += found.details()
    original, unlearned = m["original"]["retain_acc"], m["repair"]["retain_acc"]
    if original and unlearned / original < KEPT_WELL:
        out.append("A lower impair learning rate or more repair usually helps the other classes.")
    out += [s for s in (found.not_measured(), found.closeness()) if s]
    where = destinations(m["repair"]["prediction_distribution"], names)
    if where:
        sentence = f"It now calls {join(forget)} {join(where)}"
        if "retrain" in m:
            gold = destinations(m["retrain"]["prediction_distribution"], names)
            sentence += (
                f"; the model retrained without them calls them {join(gold)}"
                if gold
                else "; the retrained model spreads them over many classes"
            )
        else:
            sentence += "; no retrained model was trained to compare with"
        out.append(sentence + ".")
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
