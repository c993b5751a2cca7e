"""The comparison table: its columns (what each metric means and how it is shown), one row per method, and its
exports (CSV with formula-safe cells, Markdown, JSON)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from unsir_core.common.escaping import csv_text, md
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.privacy import MIA_VARIANTS
from unsir_core.metrics.weights import LayerDistance
from unsir_core.models.classifier import Classifier


@dataclass(frozen=True)
class Column:
    key: str  # attribute of MethodRow and column of to_frame()
    header: str  # shown in tables
    help: str  # one-sentence definition for the UI
    better: str  # "lower", "higher", "retrain" (closer to the retrained model) or ""


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
        "Mean Jensen-Shannon divergence to the retrained model's softmax outputs on "
        "forget test images (natural log, 0 = identical).",
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

    def table(self) -> list[dict[str, Any]]:
        """One dict per row with the COLUMNS keys (values as measured, None when missing)."""
        return [{c.key: getattr(r, c.key) for c in COLUMNS} | {"method": r.method} for r in self.rows]

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

    def to_csv(self) -> str:
        import pandas as pd

        rows = [values | {"relearn_capped": r.relearn_capped} for r, values in zip(self.rows, self.table())]
        return csv_text(pd.DataFrame(rows, columns=["method", *[c.key for c in COLUMNS], "relearn_capped"]))

    def to_markdown(self, digits: int = 2) -> str:
        """The table as GitHub Markdown, with a line per note and the metric definitions under it."""
        cap = self.metric_settings.relearn_max_epochs

        def fmt(row: MethodRow, key: str) -> str:
            value = getattr(row, key)
            if key == "relearn_epochs":
                return row.relearn_text(cap)
            if key == "reads_forget":
                return "" if value is None else ("yes" if value else "no")
            if value is None:
                return ""
            if isinstance(value, float):
                return f"{value:.{1 if key == 'wall_s' else digits if abs(value) >= 1 or value == 0 else 3}f}"
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
                "rows": [r.to_dict() for r in self.rows],
            }
        )
