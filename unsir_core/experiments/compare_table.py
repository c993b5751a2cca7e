"""The comparison table: its columns (what each metric means and how it is shown), one row per method, its verdict
(which method is closest to the retrained model, overall by ToW and per question, from `metrics.verdict`), and its
exports (CSV with formula-safe cells, Markdown, JSON)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from unsir_core.common.escaping import csv_text, md
from unsir_core.common.numbers import PCT_DIGITS, SCORE_DIGITS, fixed, pct, rounded, score
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.closeness import JS_DEFINITION, TOW_DEFINITION
from unsir_core.metrics.privacy import MIA_VARIANTS
from unsir_core.metrics.verdict import CONFIDENCE_ONLY, QUESTIONS, Evidence, Measure, tow_of, verdict
from unsir_core.metrics.weights import LayerDistance
from unsir_core.models.classifier import Classifier
from unsir_core.report.summary import join, plural


@dataclass(frozen=True)
class Column:
    key: str  # attribute of MethodRow and column of to_frame()
    header: str  # shown in tables
    help: str  # one-sentence definition for the UI
    better: str  # "lower", "higher", "retrain" (closer to the retrained model) or ""

    @property
    def digits(self) -> int:
        """Decimals the pages show (common.numbers rounds): percentages and seconds 1, scores and distances 3."""
        return PCT_DIGITS if self.key in ONE_DECIMAL else SCORE_DIGITS


ONE_DECIMAL = (
    "forget_acc",
    "retain_acc",
    "test_acc",
    "wall_s",
    "mia_entropy",
    "mia_confidence",
    "mia_entropy_acc",
    "mia_confidence_acc",
    "probe_forget_acc",
)  # the columns in % or seconds


COLUMNS: tuple[Column, ...] = (
    Column("title", "Method", "The unlearning method.", ""),
    Column("status", "Status", "ok, or why the method failed or was skipped.", ""),
    Column(
        "reads_forget",
        "Reads D_f",
        "Whether the method read forget-class training images (UNSIR, fine-tune and retrain never do).",
        "",
    ),
    Column("forget_acc", "A_Df (%)", "Accuracy on the test images of the forgotten classes.", "retrain"),
    Column("retain_acc", "A_Dr (%)", "Accuracy on the test images of the retained classes.", "higher"),
    Column("test_acc", "Test (%)", "Accuracy on all test images.", "higher"),
    Column("tow", "ToW", TOW_DEFINITION, "higher"),
    Column("wall_s", "Time (s)", "Wall-clock seconds the method took on this device.", "lower"),
    Column(
        "relearn_epochs",
        "Relearn (ep.)",
        "Epochs of fine-tuning on 500 random training samples each until the "
        "forget accuracy is back at 90% of the original's (the first crossing of that line); '>N' when the cap "
        "was reached.",
        "higher",
    ),
    Column(
        "mia_entropy",
        "MIA entropy (%)",
        MIA_VARIANTS["entropy"] + " Reported: % of forget images called 'member'.",
        "retrain",
    ),
    Column(
        "mia_entropy_acc",
        "Entropy attack acc. (%)",
        "The entropy attack's own accuracy on held-out retain-class "
        "members and non-members (50% = chance: then its member rate carries no information).",
        "",
    ),
    Column(
        "mia_confidence",
        "MIA confidence (%)",
        MIA_VARIANTS["confidence"] + " Reported: % of forget images called 'member'.",
        "retrain",
    ),
    Column(
        "mia_confidence_acc",
        "Confidence attack acc. (%)",
        "The confidence attack's own accuracy on held-out retain-class members and non-members (50% = chance).",
        "",
    ),
    Column(
        "privacy_score",
        "Privacy vs retrain",
        "Worst-case privacy score referenced to the retrained model "
        "(Unlearning Comparator, TVCG 2025): 1 - the best threshold attack's score at telling this model's "
        "outputs on forget-class training images from the retrained model's (1 = indistinguishable).",
        "higher",
    ),
    Column(
        "probe_forget_acc",
        "Probe A_Df (%)",
        "Feature probe: accuracy of a linear classifier on this model's "
        "penultimate features on forget-class test images (an audit that reads forget images): high = the "
        "features still recognise the class.",
        "retrain",
    ),
    Column(
        "act_dist",
        "Act. dist.",
        "Mean L2 distance between this model's and the retrained model's softmax "
        "outputs on forget test images (0 = identical).",
        "lower",
    ),
    Column(
        "js_div",
        "JS div.",
        JS_DEFINITION,
        "lower",
    ),
    Column(
        "zrf",
        "ZRF",
        "1 - mean JS divergence to a randomly initialised model's outputs on forget test images "
        "(1 = as uninformed as random).",
        "retrain",
    ),
    Column("weight_dist_original", "W-dist. orig.", "L2 distance of all weights to the original model.", ""),
    Column("weight_dist_retrain", "W-dist. retrain", "L2 distance of all weights to the retrained model.", "lower"),
)
COMPACT = (
    "title",
    "forget_acc",
    "retain_acc",
    "tow",
    "js_div",
    "probe_forget_acc",
    "relearn_epochs",
    "privacy_score",
    "wall_s",
)  # the columns shown by default: one per question of the verdict, ToW, JS and time
DISTANCE = {
    "decision": "forget_acc",
    "features": "probe_forget_acc",
    "relearning": "relearn_epochs",
    "cost": "retain_acc",
}  # question -> the column whose distance to the retrained model's value answers it


@dataclass(frozen=True)
class MethodRow:
    method: str  # registry key, or "original"
    title: str  # shown in tables
    status: str  # "ok", "failed: <why>", "cancelled" or "skipped: <why>"
    reads_forget: bool | None  # read forget-class training images (None when it did not run)
    forget_acc: float | None = None  # A_Df, %
    retain_acc: float | None = None  # A_Dr, %
    test_acc: float | None = None  # overall test accuracy, %
    wall_s: float | None = None  # seconds the method took
    relearn_epochs: int | None = None  # epochs to relearn; None when capped or not measured
    relearn_capped: bool | None = None  # True when the cap ran out first
    mia_entropy: float | None = None  # % of forget-train images the entropy attack calls member
    mia_confidence: float | None = None  # same, confidence attack
    mia_entropy_acc: float | None = None  # % accuracy of the entropy attack on held-out members/non-members
    mia_confidence_acc: float | None = None  # same, confidence attack
    privacy_score: float | None = None  # worst-case privacy score against the retrained model (Comparator)
    probe_forget_acc: float | None = None  # feature probe accuracy on forget-class test images, %
    act_dist: float | None = None  # activation distance to the retrained model (forget test images)
    js_div: float | None = None  # JS divergence to the retrained model (forget test images)
    zrf: float | None = None  # ZRF on forget test images
    weight_dist_original: float | None = None  # total weight distance to the original
    weight_dist_retrain: float | None = None  # total weight distance to the retrained model
    layers_original: tuple[LayerDistance, ...] = ()  # per-layer distance to the original
    layers_retrain: tuple[LayerDistance, ...] = ()  # per-layer distance to the retrained model
    prediction_distribution: tuple[int, ...] = ()  # predicted-class counts on forget test images
    per_class_acc: tuple[float, ...] = ()  # test accuracy per class, %
    relearn_history: tuple[float, ...] = ()  # forget accuracy (probe) after 0, 1, ... relearn epochs
    settings: dict[str, Any] = field(default_factory=dict)  # the settings used
    losses: dict[str, list[float]] = field(default_factory=dict)  # loss per step of each phase
    details: dict[str, Any] = field(default_factory=dict)  # samples read, timings, metric errors, ...

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def relearn_text(self, cap: int) -> str:
        if self.relearn_epochs is not None:
            return str(self.relearn_epochs)
        return f">{cap}" if self.relearn_capped else ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["layers_original"] = [asdict(x) for x in self.layers_original]
        d["layers_retrain"] = [asdict(x) for x in self.layers_retrain]
        return d


def _clean(value: Any) -> Any:
    """JSON-safe: NaN/inf -> None, tuples -> lists, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


@dataclass(frozen=True)
class Comparison:
    dataset: str
    arch: str
    class_names: tuple[str, ...]
    forget: tuple[int, ...]  # classes forgotten (this request plus any the model had already forgotten)
    device: str  # human-readable device
    rows: tuple[MethodRow, ...]  # "original" first, then "retrain", then the other methods as requested
    reference: str  # what activation distance / JS / weight distance to retrain were measured against
    metric_settings: MetricSettings
    total_s: float  # seconds for the whole comparison, metrics included
    cancelled: bool = False  # True when the caller cancelled; finished rows are kept
    notes: tuple[str, ...] = ()  # anything missing and why
    reference_warning: str | None = None  # set when the reference is under-trained (A_Dr < 95% of the original's)
    models: dict[str, Classifier] = field(default_factory=dict, compare=False, repr=False)  # per ok row

    def row(self, method: str) -> MethodRow:
        for r in self.rows:
            if r.method == method:
                return r
        raise KeyError(f"No row for {method!r}; rows: {', '.join(r.method for r in self.rows)}")

    def _ok(self, method: str) -> MethodRow | None:
        return next((r for r in self.rows if r.method == method and r.ok), None)

    def evidence(self, row: MethodRow) -> Evidence | None:
        """The verdict's evidence on `row` against the original and the retrained rows (None: it did not run)."""
        if not row.ok or row.forget_acc is None:
            return None
        original, retrained = self._ok("original"), self._ok("retrain")
        cap = self.metric_settings.relearn_max_epochs

        def measure(key: str, kind: str = "pct") -> Measure | None:
            if getattr(row, key) is None:
                return None
            at = {who: getattr(r, key) if r is not None else None for who, r in (("o", original), ("r", retrained))}
            return Measure(getattr(row, key), at["o"], at["r"], kind)

        def epochs(r: MethodRow | None) -> float | None:
            if r is None or (r.relearn_epochs is None and not r.relearn_capped):
                return None
            return float(cap if r.relearn_capped else r.relearn_epochs)

        relearning = None
        if epochs(row) is not None:
            capped = {
                w for w, r in (("unlearned", row), ("retrained", retrained)) if r is not None and r.relearn_capped
            }
            relearning = Measure(epochs(row), 0.0, epochs(retrained), "epochs", frozenset(capped))
        reference = retrained is not None

        def to_reference(key: str) -> Measure | None:  # the retrained model's own figure holds by definition
            mine = measure(key, "score")
            return mine and Measure(mine.unlearned, mine.original, {"privacy_score": 1.0, "js_div": 0.0}[key], "score")

        mia = row.details.get("mia", {}).get("entropy", {})
        return Evidence(
            forget=join([plural(self.class_names[c]) for c in self.forget]),
            decision=measure("forget_acc"),
            cost=measure("retain_acc"),
            test=measure("test_acc"),
            features=measure("probe_forget_acc"),
            relearning=relearning,
            privacy=to_reference("privacy_score") if reference else None,
            membership=measure("mia_entropy"),
            membership_at_chance=bool(mia.get("at_chance")),
            js=to_reference("js_div") if reference else None,
        )

    def tow(self, row: MethodRow) -> float | None:
        """ToW of `row` against the retrained row (metrics.closeness; None without both)."""
        found = self.evidence(row)
        return None if found is None else tow_of(found, "unlearned")

    def value(self, row: MethodRow, key: str) -> Any:
        """The figure of column `key` for `row` (ToW is computed from the retrained row)."""
        return self.tow(row) if key == "tow" else getattr(row, key)

    def candidates(self) -> list[MethodRow]:
        """The unlearning methods that ran: every ok row but the original and the retrained model."""
        return [r for r in self.rows if r.ok and r.method not in ("original", "retrain")]

    def closest(self, key: str) -> list[MethodRow]:
        """The candidates whose `key` is nearest the retrained model's (ToW and the privacy score: the highest);
        several when they tie as the table shows them (rounded to the column's digits)."""
        rank: dict[str, float] = {}
        if key in ("tow", "privacy_score"):
            rank = {r.method: -v for r in self.candidates() if (v := self.value(r, key)) is not None}
        elif self._ok("retrain") is not None:
            question = next(q for q, k in DISTANCE.items() if k == key)
            for r in self.candidates():
                m = getattr(self.evidence(r), question)
                if m is not None and m.retrained is not None:
                    both_capped = {"unlearned", "retrained"} <= m.capped
                    rank[r.method] = 0.0 if both_capped else abs(m.unlearned - m.retrained)
        if not rank:
            return []
        digits = next((c.digits for c in COLUMNS if c.key == key), SCORE_DIGITS)
        best = min(rounded(v, digits) for v in rank.values())
        return [r for r in self.candidates() if r.method in rank and rounded(rank[r.method], digits) == best]

    def verdict(self) -> list[str]:
        """The comparison's verdict, one sentence each: the method closest to the retrained model overall (ToW),
        then per question, who over-forgets, and why the original can score high on the privacy score."""
        if self._ok("retrain") is None:
            return [
                "No retrained model in this comparison: how close each method comes to it cannot be measured "
                "(use a retrained reference in the measurement settings)."
            ]
        if not self.candidates():
            return ["No unlearning method finished: nothing to compare with the retrained model."]
        out = []
        if self.closest("tow"):
            best = self.closest("tow")[0]
            ranked = sorted(self.candidates(), key=lambda r: -(self.tow(r) or 0.0))
            runner = f"; next {ranked[1].title} {score(self.tow(ranked[1]))}" if len(ranked) > 1 else ""
            original = self._ok("original")
            before = f"; the original {score(self.tow(original))}" if original is not None else ""
            out.append(
                f"Closest to the retrained model overall: {best.title} (ToW {score(self.tow(best))}{runner}{before})."
            )
        retrained = self._ok("retrain")
        cap = self.metric_settings.relearn_max_epochs
        shown = {
            "forget_acc": ("A_Df", lambda r: pct(r.forget_acc)),
            "probe_forget_acc": ("probe", lambda r: pct(r.probe_forget_acc)),
            "relearn_epochs": ("epochs to relearn", lambda r: r.relearn_text(cap)),
            "retain_acc": ("A_Dr", lambda r: pct(r.retain_acc)),
        }
        for question, key in DISTANCE.items():
            tied = self.closest(key)
            words = QUESTIONS[question].capitalize()
            if not tied:
                out.append(f"{words}: not measured.")
            else:
                label, value = shown[key]
                who = join([r.title for r in tied])
                out.append(f"{words}: {who} ({label} {value(tied[0])}; the retrained model {value(retrained)}).")
            if question == "relearning":
                out.append(self._privacy_sentence())
        over = [
            f"{r.title} ({', '.join(found.over)})"
            for r in self.candidates()
            if (found := verdict(self.evidence(r))).over
        ]
        out.append(
            f"Over-forgetting (past the retrained model and further from it than the original): {', '.join(over)}."
            if over
            else "No method over-forgets: none goes past the retrained model further than the original was."
        )
        return out

    def _privacy_sentence(self) -> str:
        tied = self.closest("privacy_score")
        if not tied:
            return "For privacy: not measured."
        who, value = join([r.title for r in tied]), score(tied[0].privacy_score)
        text = f"For privacy: {who} (privacy score {value}; 1 = like the retrained model)."
        original = self._ok("original")
        below = [
            r.title
            for r in self.candidates()
            if original is not None
            and None not in (r.privacy_score, original.privacy_score)
            and r.privacy_score <= original.privacy_score
        ]
        if below:
            text += (
                f" The original scores {score(original.privacy_score)}, as high as {join(below)}: {CONFIDENCE_ONLY}."
            )
        return text

    def table(self) -> list[dict[str, Any]]:
        """One dict per row with the COLUMNS keys (values as measured, None when missing)."""
        return [{c.key: self.value(r, c.key) for c in COLUMNS} | {"method": r.method} for r in self.rows]

    def to_frame(self, headers: bool = False):
        """A pandas DataFrame of the table, one row per method; `headers=True` uses the display headers."""
        import pandas as pd

        frame = pd.DataFrame(self.table(), columns=["method", *[c.key for c in COLUMNS]])
        frame["relearn_capped"] = [r.relearn_capped for r in self.rows]
        if headers:
            frame = frame.drop(columns=["method", "relearn_capped"])
            frame["relearn_epochs"] = [r.relearn_text(self.metric_settings.relearn_max_epochs) for r in self.rows]
            frame = frame.rename(columns={c.key: c.header for c in COLUMNS})
        return frame

    def row_verdict(self, row: MethodRow) -> str:
        """The verdict on one method in words ("" for the original, the retrained model and rows that did not run)."""
        if row not in self.candidates():
            return ""
        found = verdict(self.evidence(row))
        return " ".join([*found.headline(), *found.details(), *filter(None, [found.not_measured()])])

    def to_csv(self) -> str:
        import pandas as pd

        rows = [
            values | {"relearn_capped": r.relearn_capped, "verdict": self.row_verdict(r)}
            for r, values in zip(self.rows, self.table())
        ]
        columns = ["method", *[c.key for c in COLUMNS], "relearn_capped", "verdict"]
        return csv_text(pd.DataFrame(rows, columns=columns))

    def to_markdown(self, digits: int = 2) -> str:
        """The table as GitHub Markdown, with a line per note and the metric definitions under it."""
        cap = self.metric_settings.relearn_max_epochs

        def fmt(row: MethodRow, key: str) -> str:
            value = self.value(row, key)
            if key == "relearn_epochs":
                return row.relearn_text(cap)
            if key == "reads_forget":
                return "" if value is None else ("yes" if value else "no")
            if value is None:
                return ""
            if isinstance(value, float):
                return fixed(value, 1 if key == "wall_s" else digits if abs(value) >= 1 or value == 0 else 3)
            return str(value).replace("|", "/")

        lines = [
            "| " + " | ".join(c.header for c in COLUMNS) + " |",
            "|" + "|".join("---" if i < 2 else "---:" for i, _ in enumerate(COLUMNS)) + "|",
        ]
        lines += ["| " + " | ".join(fmt(r, c.key) for c in COLUMNS) + " |" for r in self.rows]
        forgot = ", ".join(self.class_names[c] for c in self.forget)
        lines += [
            "",
            f"{md(self.dataset)}, {self.arch}, forgetting {md(forgot)}; {self.device}; "
            f"total {self.total_s:.1f} s. "
            f"Reference: {self.reference}.",
        ]
        lines += [f"- {n}" for n in self.notes]
        lines += ["", "**Verdict** (how close to the retrained model):", ""]
        lines += [f"- {md(sentence)}" for sentence in self.verdict()]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return _clean(
            {
                "dataset": self.dataset,
                "arch": self.arch,
                "class_names": list(self.class_names),
                "forget": [self.class_names[c] for c in self.forget],
                "forget_indices": list(self.forget),
                "device": self.device,
                "total_s": self.total_s,
                "cancelled": self.cancelled,
                "reference": self.reference,
                "reference_warning": self.reference_warning,
                "notes": list(self.notes),
                "metric_settings": asdict(self.metric_settings),
                "columns": [asdict(c) for c in COLUMNS],
                "mia_variants": dict(MIA_VARIANTS),
                "rows": [r.to_dict() | {"tow": self.tow(r), "verdict": self.row_verdict(r)} for r in self.rows],
                "verdict": self.verdict(),
            }
        )
