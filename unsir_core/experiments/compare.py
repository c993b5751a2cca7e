"""Run several unlearning methods on one request and measure them all the same way (paper Table 1).

`compare` takes the retrained reference first (the gold standard that activation distance, JS
divergence, the privacy score and weight distance are measured against; from the reference store, or
trained once and stored there), then runs each method on its own copy of
the model and measures, on every result:

- A_Df, A_Dr and overall test accuracy, and the prediction distribution on forget test images;
- wall time of the method;
- relearn time (epochs of 500 training samples until the forget accuracy is back);
- membership inference, entropy and confidence variants (`metrics.privacy.MIA_VARIANTS`), each with the
  attack's own accuracy on held-out members and non-members (50% = chance: then the rate says nothing);
- the feature probe (`metrics.probe`): a linear classifier on the penultimate features, scored on forget
  test images;
- activation distance, JS divergence and the worst-case privacy score (`metrics.retrain_privacy`) to the
  retrained model on forget images, and ZRF;
- layer-wise weight distance to the original and to the retrained model (totals and per layer).

A method that fails (unknown name, bad settings, NaN, a model it cannot handle) gets a row with
status "failed: <why>" and the others still run. Cancelling keeps every finished row.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from unsir_core.models.classifier import Classifier
from unsir_core.common.config import TrainConfig
from unsir_core.data import ImageData
from unsir_core.common.device import describe, pick_device
from unsir_core.common.errors import Cancelled, ConfigError, UnsirError
from unsir_core.common.escaping import csv_text, md
from unsir_core.methods import METHODS, Request, RetrainSettings, get_method
from unsir_core.metrics.evaluate import Evaluation, evaluate, predict_logits
from unsir_core.metrics.privacy import (MIA_VARIANTS, activation_distance, js_divergence, zrf_score)
from unsir_core.metrics.probe import feature_probe
from unsir_core.metrics import audits
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.retrain_privacy import retrain_privacy
from unsir_core.metrics.weights import LayerDistance, layer_distances
from unsir_core.common.progress import CancelToken, ProgressFn, emit
from unsir_core.checkpoints.references import warning as reference_warning


@dataclass(frozen=True)
class Column:
    key: str  # attribute of MethodRow and column of to_frame()
    header: str  # shown in tables
    help: str  # one-sentence definition for the UI
    better: str  # "lower", "higher", "retrain" (closer to the retrained model) or ""


COLUMNS: tuple[Column, ...] = (
    Column("title", "Method", "The unlearning method.", ""),
    Column("status", "Status", "ok, or why the method failed or was skipped.", ""),
    Column("reads_forget", "Reads D_f", "Whether the method read forget-class training images (UNSIR, fine-tune "
           "and retrain never do).", ""),
    Column("forget_acc", "A_Df (%)", "Accuracy on the test images of the forgotten classes.", "retrain"),
    Column("retain_acc", "A_Dr (%)", "Accuracy on the test images of the retained classes.", "higher"),
    Column("test_acc", "Test (%)", "Accuracy on all test images.", "higher"),
    Column("wall_s", "Time (s)", "Wall-clock seconds the method took on this device.", "lower"),
    Column("relearn_epochs", "Relearn (ep.)", "Epochs of fine-tuning on 500 random training samples each until the "
           "forget accuracy is back at 90% of the original's (the first crossing of that line); '>N' when the cap "
           "was reached.", "higher"),
    Column("mia_entropy", "MIA entropy (%)", MIA_VARIANTS["entropy"] + " Reported: % of forget images called "
           "'member'.", "retrain"),
    Column("mia_entropy_acc", "Entropy attack acc. (%)", "The entropy attack's own accuracy on held-out retain-class "
           "members and non-members (50% = chance: then its member rate carries no information).", ""),
    Column("mia_confidence", "MIA confidence (%)", MIA_VARIANTS["confidence"] + " Reported: % of forget images "
           "called 'member'.", "retrain"),
    Column("mia_confidence_acc", "Confidence attack acc. (%)", "The confidence attack's own accuracy on held-out "
           "retain-class members and non-members (50% = chance).", ""),
    Column("privacy_score", "Privacy vs retrain", "Worst-case privacy score referenced to the retrained model "
           "(Unlearning Comparator, TVCG 2025): 1 - the best threshold attack's score at telling this model's "
           "outputs on forget-class training images from the retrained model's (1 = indistinguishable).", "higher"),
    Column("probe_forget_acc", "Probe A_Df (%)", "Feature probe: accuracy of a linear classifier on this model's "
           "penultimate features on forget-class test images (an audit that reads forget images): high = the "
           "features still recognise the class.", "retrain"),
    Column("act_dist", "Act. dist.", "Mean L2 distance between this model's and the retrained model's softmax "
           "outputs on forget test images (0 = identical).", "lower"),
    Column("js_div", "JS div.", "Mean Jensen-Shannon divergence to the retrained model's softmax outputs on "
           "forget test images (natural log, 0 = identical).", "lower"),
    Column("zrf", "ZRF", "1 - mean JS divergence to a randomly initialised model's outputs on forget test images "
           "(1 = as uninformed as random).", "retrain"),
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

        lines = ["| " + " | ".join(c.header for c in COLUMNS) + " |",
                 "|" + "|".join("---" if i < 2 else "---:" for i, _ in enumerate(COLUMNS)) + "|"]
        lines += ["| " + " | ".join(fmt(r, c.key) for c in COLUMNS) + " |" for r in self.rows]
        forgot = ", ".join(self.class_names[c] for c in self.forget)
        lines += ["", f"{md(self.dataset)}, {self.arch}, forgetting {md(forgot)}; {self.device}; "
                  f"total {self.total_s:.1f} s. "
                  f"Reference: {self.reference}."]
        lines += [f"- {n}" for n in self.notes]
        return "\n".join(lines) + "\n"

    def to_json(self) -> dict[str, Any]:
        return _clean({
            "dataset": self.dataset, "arch": self.arch, "class_names": list(self.class_names),
            "forget": [self.class_names[c] for c in self.forget], "forget_indices": list(self.forget),
            "device": self.device, "total_s": self.total_s, "cancelled": self.cancelled,
            "reference": self.reference, "reference_warning": self.reference_warning, "notes": list(self.notes),
            "metric_settings": asdict(self.metric_settings),
            "columns": [asdict(c) for c in COLUMNS],
            "mia_variants": dict(MIA_VARIANTS),
            "rows": [r.to_dict() for r in self.rows],
        })


def _key(name: str) -> str:
    """The registry key of a method name or alias ("NegGrad+" -> "neggrad_plus"); unknown names as given."""
    try:
        return get_method(name).name
    except ConfigError:
        return name.strip()


def _ordered(methods: Sequence[str]) -> list[str]:
    """Requested names without duplicates, retrain first (it is the reference), otherwise as given."""
    seen: list[str] = []
    for name in methods:
        key = _key(name)
        if key and key not in seen:
            seen.append(key)
    return sorted(seen, key=lambda k: k != "retrain")


def _with_prefix(progress: ProgressFn | None, prefix: str) -> ProgressFn | None:
    if progress is None:
        return None
    return lambda ev: progress(replace(ev, phase=f"{prefix}/{ev.phase}"))


class _Measure:
    """Everything each row is measured with, computed once: original, reference, probes, logits."""

    def __init__(self, original: Classifier, data: ImageData, gone: Sequence[int], ms: MetricSettings,
                 progress: ProgressFn | None, cancel: CancelToken | None):
        self.original, self.data, self.gone, self.ms = original, data, list(gone), ms
        self.progress, self.cancel = progress, cancel
        self.forget_x = data.test_x[data.class_mask(data.test_y, gone)]  # [F, C, H, W] forget test images
        self.original_probe_acc, self.relearn_target = audits.relearn_baseline(original, data, self.gone, ms)
        self.reference: Classifier | None = None
        self.reference_logits: torch.Tensor | None = None

    def set_reference(self, model: Classifier) -> None:
        self.reference = model
        self.reference_logits = predict_logits(model, self.forget_x)

    def to_reference(self, model: Classifier) -> dict[str, Any]:
        """Activation distance, JS divergence, privacy score and weight distance to the reference ({} without one)."""
        if self.reference is None:
            return {}
        logits = predict_logits(model, self.forget_x)
        layers = layer_distances(model, self.reference)
        privacy = retrain_privacy(model, self.reference, self.data, self.gone)
        return {"act_dist": round(activation_distance(logits, self.reference_logits), 5),
                "js_div": round(js_divergence(logits, self.reference_logits), 5),
                "privacy_score": privacy.score, "layers_retrain": tuple(layers),
                "weight_dist_retrain": round(_total(layers), 5), "_privacy": privacy.to_dict()}

    def row(self, name: str, title: str, model: Classifier, base: dict[str, Any]) -> MethodRow:
        """Measure `model` and return its row; a metric that fails is recorded, not raised."""
        errors: dict[str, str] = {}
        steps = ["accuracy", "relearn", "privacy", "probe", "distance"]
        start = time.perf_counter()
        out: dict[str, Any] = {}

        def step(i: int, label: str, fn) -> None:
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled(f"Cancelled while measuring {title}.")
            emit(self.progress, f"{name}/metrics", i, len(steps), start)
            try:
                fn()
            except Cancelled:
                raise
            except Exception as err:  # a metric that cannot be computed must not lose the row
                errors[label] = f"{type(err).__name__}: {err}" if not isinstance(err, UnsirError) else str(err)

        def acc() -> None:
            ev: Evaluation = evaluate(model, self.data, self.gone)
            out.update(forget_acc=ev.forget_acc, retain_acc=ev.retain_acc, test_acc=ev.overall_acc,
                       prediction_distribution=tuple(ev.prediction_distribution),
                       per_class_acc=tuple(ev.per_class_acc))

        def relearn() -> None:
            if not self.ms.relearn:
                return
            if name == "original":  # it has not forgotten: relearned at epoch 0 by definition
                out.update(relearn_epochs=0, relearn_capped=False, relearn_history=(self.original_probe_acc,))
                return
            r = audits.relearn(model, self.data, self.gone, self.relearn_target, self.ms)
            out.update(relearn_epochs=r.epochs, relearn_capped=r.capped, relearn_history=tuple(r.history))

        def privacy() -> None:
            for variant in MIA_VARIANTS:
                mia = audits.membership(model, self.data, self.gone, variant, self.ms)
                out[f"mia_{variant}"] = mia.forget_member_rate
                out[f"mia_{variant}_acc"] = mia.attack_acc
                out.setdefault("_mia", {})[variant] = mia.to_dict()
            out["zrf"] = round(zrf_score(model, self.data, self.gone, self.ms.seed), 5)

        def probe() -> None:
            if self.ms.probe:
                result = feature_probe(model, self.data, self.gone, seed=self.ms.seed)
                out["probe_forget_acc"] = result.forget_acc
                out["_probe"] = result.to_dict()

        def distance() -> None:
            layers = layer_distances(model, self.original)
            out.update(layers_original=tuple(layers), weight_dist_original=round(_total(layers), 5))
            out.update(self.to_reference(model))

        for i, (label, fn) in enumerate(zip(steps, (acc, relearn, privacy, probe, distance)), start=1):
            step(i, label, fn)
        details = dict(base.pop("details", {}))
        for key in ("mia", "probe", "privacy"):
            if f"_{key}" in out:
                details[key] = out.pop(f"_{key}")
        if errors:
            details["metric_errors"] = errors
        details["metrics_s"] = round(time.perf_counter() - start, 3)
        return MethodRow(name, title, "ok", **base, **out, details=details)


def _total(layers: Sequence[LayerDistance]) -> float:
    return sum(d.l2 ** 2 for d in layers) ** 0.5


def _failure(err: BaseException) -> str:
    if isinstance(err, UnsirError):
        return f"failed: {err}"
    return f"failed: {type(err).__name__}: {err}"


def compare(model: Classifier, data: ImageData, forget: Sequence[int | str], methods: Sequence[str] = tuple(METHODS),
            settings: Mapping[str, Mapping[str, Any] | Any] | None = None, device: str | torch.device | None = "auto",
            progress: ProgressFn | None = None, cancel: CancelToken | None = None,
            retrain_config: TrainConfig | None = None, metrics: MetricSettings = MetricSettings(),
            reference: Classifier | None = None, train_reference: bool = True) -> Comparison:
    """Run `methods` on `model` forgetting `forget`, measure every result the same way, return the table.

    settings: {method: {field: value}} overrides of each method's defaults (or a settings instance).
    retrain_config: the training recipe of the retrained reference (default: `settings["retrain"]`,
    else `RetrainSettings()`: the original's own training settings). The reference store is searched
    first: a stored reference with these settings is loaded instead of trained, and a newly trained one
    is stored. reference: an already retrained model to use instead (it fills the "retrain" row too,
    with its recorded training time). train_reference=False skips
    the reference when "retrain" is not requested: the columns that need it stay empty (noted).
    Progress events carry phase "<method>/<phase>"; a cancel keeps the finished rows.
    The input model is never modified.
    """
    start = time.perf_counter()
    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.info.check_fits(data)
    request = data.forget_classes(forget, model.info.forgotten)
    gone = tuple(sorted(set(request) | set(model.info.forgotten)))
    data = data.to(device)
    settings = {_key(k): v for k, v in (settings or {}).items()}
    names = _ordered(methods)
    if not names:
        raise ConfigError(f"Choose at least one method. Known methods: {', '.join(METHODS)}.")

    original = model.copy()
    original.net.to(device).eval()
    measure = _Measure(original, data, gone, metrics, progress, cancel)
    rows: list[MethodRow] = []
    models: dict[str, Classifier] = {}
    notes: list[str] = []
    cancelled = False

    # the reference first: requested as a row, handed in, or trained only for the metrics
    retrain_settings: Any = RetrainSettings.from_train_config(retrain_config) if retrain_config is not None \
        else settings.get("retrain")
    reference_name = "none"
    if reference is not None:
        reference = reference.copy()
        reference.net.to(device).eval()
        _check_reference(reference, model, gone)
        measure.set_reference(reference)
        reference_name = "the retrained model handed in"
    elif "retrain" not in names and train_reference:
        names.insert(0, "retrain")
        notes.append("'retrain' was not requested but was added (from the reference store when it holds one): it is "
                     "the reference of activation distance, JS divergence, the privacy score and weight distance "
                     "(train_reference=False skips it).")

    try:
        rows.append(measure.row("original", "Original", original, {"reads_forget": False, "wall_s": 0.0}))
        models["original"] = original
    except Cancelled:
        cancelled = True
        rows.append(MethodRow("original", "Original", "cancelled", False))

    run_names = list(names)
    for i, name in enumerate(run_names):
        emit(progress, "compare", i + 1, len(run_names), start)
        if cancelled:
            rows.append(MethodRow(name, _title(name), "skipped: cancelled", None))
            continue
        try:
            if cancel is not None and cancel.is_set():
                raise Cancelled("Cancelled before " + name)
            method = get_method(name)
            if name == "retrain" and reference is not None:
                result_model, base = reference, {
                    "reads_forget": False, "wall_s": reference.info.details.get("train_s"),
                    "settings": reference.info.details.get("settings", reference.info.details.get("train_config", {})),
                    "details": {"reused": True, "reference": {"handed_in": True}}}
            else:
                result = method.run(model, data, request, retrain_settings if name == "retrain" else
                                    settings.get(name), device, _with_prefix(progress, name), cancel)
                result_model = result.model
                if result.read_forget != method.reads_forget:  # a method must say truthfully what it read
                    notes.append(f"{method.title} declared reads_forget={method.reads_forget} but read_forget="
                                 f"{result.read_forget}.")
                base = {"reads_forget": result.read_forget, "wall_s": result.wall_s,
                        "settings": method.resolved(result.settings, Request(model.info, data, tuple(request))),
                        "losses": result.losses,
                        "details": result.details}
                if name == "retrain":
                    stored = result.details.get("reference", {})
                    if stored.get("reused"):  # loaded from the store: its time is the recorded training time
                        base["wall_s"] = result.details.get("train_s")
                        base["details"] = {**result.details, "reused": True}
                    measure.set_reference(result_model)
                    epochs = base["settings"].get("epochs")
                    reference_name = (f"retrained from scratch ({epochs} epochs"
                                      + (", from the reference store: " + Path(stored["path"]).name
                                         if stored.get("reused") else "") + ")")
                    rows = [_with_reference(r, measure, models) for r in rows]
            row = measure.row(name, method.title, result_model, base)
            models[name] = result_model
        except Cancelled:
            cancelled = True
            row = MethodRow(name, _title(name), "cancelled", None)
        except Exception as err:  # one method's failure must not lose the others
            row = MethodRow(name, _title(name), _failure(err), None, settings=_settings_text(settings.get(name)))
            if name == "retrain":
                notes.append(f"No retrained reference ({row.status}): activation distance, JS divergence and "
                             "weight distance to retrain are empty.")
        rows.append(row)

    if measure.reference is None and not any(n.startswith("No retrained reference") for n in notes):
        notes.append("No retrained reference: activation distance, JS divergence, the privacy score and weight "
                     "distance to retrain are empty.")
    weak = _reference_warning(rows)
    if weak:
        notes.append(weak)
    return Comparison(data.name, model.info.arch, data.class_names, gone, describe(device), tuple(rows),
                      reference_name, metrics, round(time.perf_counter() - start, 2), cancelled, tuple(notes),
                      weak, models)


def _reference_warning(rows: Sequence[MethodRow]) -> str | None:
    """The under-trained warning when both the original's and the reference's A_Dr were measured."""
    by = {r.method: r for r in rows if r.ok}
    if "original" in by and "retrain" in by and None not in (by["original"].retain_acc, by["retrain"].retain_acc):
        return reference_warning(by["retrain"].retain_acc, by["original"].retain_acc)
    return None


def _with_reference(row: MethodRow, measure: _Measure, models: Mapping[str, Classifier]) -> MethodRow:
    """A row measured before the reference existed (the original's), completed with the distances to it."""
    if row.method not in models or row.act_dist is not None:
        return row
    try:
        found = measure.to_reference(models[row.method])
        privacy = found.pop("_privacy")
        return replace(row, **found, details={**row.details, "privacy": privacy})
    except Exception as err:  # a metric must not lose the row
        return replace(row, details={**row.details, "metric_errors": {"distance": f"{type(err).__name__}: {err}"}})


def _title(name: str) -> str:
    return METHODS[name].title if name in METHODS else name


def _settings_text(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    try:
        return asdict(value)
    except TypeError:
        return {"value": repr(value)}


def _check_reference(reference: Classifier, model: Classifier, gone: Sequence[int]) -> None:
    if reference.info.arch != model.info.arch or reference.info.num_classes != model.info.num_classes:
        raise ConfigError(f"The reference is a {reference.info.arch} with {reference.info.num_classes} classes; it "
                          f"must match the model ({model.info.arch}, {model.info.num_classes} classes).")
    if tuple(reference.info.forgotten) != tuple(gone):
        raise ConfigError(f"The reference was trained without classes {list(reference.info.forgotten)}, but this "
                          f"comparison forgets {list(gone)}: retrain it without exactly these classes.")
