"""Run several unlearning methods on one request and measure them all the same way (paper Table 1).

`compare` (the table it fills: `compare_table`) takes the retrained reference first (the gold standard that
activation distance, JS divergence, the privacy score and weight distance are measured against; from the reference
store, or trained once and stored there), then runs each method on its own copy of
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

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import torch

from unsir_core.checkpoints.references import warning as reference_warning
from unsir_core.common.config import TrainConfig
from unsir_core.common.device import describe, pick_device
from unsir_core.common.errors import Cancelled, ConfigError, UnsirError
from unsir_core.common.progress import CancelToken, ProgressFn, emit
from unsir_core.data import ImageData
from unsir_core.experiments.compare_table import Comparison, MethodRow
from unsir_core.methods import METHODS, Request, RetrainSettings, get_method
from unsir_core.metrics import audits
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.evaluate import Evaluation, evaluate, predict_logits
from unsir_core.metrics.privacy import MIA_VARIANTS, activation_distance, js_divergence, zrf_score
from unsir_core.metrics.probe import feature_probe
from unsir_core.metrics.retrain_privacy import retrain_privacy
from unsir_core.metrics.weights import LayerDistance, layer_distances
from unsir_core.models.classifier import Classifier


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

    def __init__(
        self,
        original: Classifier,
        data: ImageData,
        gone: Sequence[int],
        ms: MetricSettings,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
    ):
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
        return {
            "act_dist": round(activation_distance(logits, self.reference_logits), 5),
            "js_div": round(js_divergence(logits, self.reference_logits), 5),
            "privacy_score": privacy.score,
            "layers_retrain": tuple(layers),
            "weight_dist_retrain": round(_total(layers), 5),
            "_privacy": privacy.to_dict(),
        }

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
            out.update(
                forget_acc=ev.forget_acc,
                retain_acc=ev.retain_acc,
                test_acc=ev.overall_acc,
                prediction_distribution=tuple(ev.prediction_distribution),
                per_class_acc=tuple(ev.per_class_acc),
            )

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
    return sum(d.l2**2 for d in layers) ** 0.5


def _failure(err: BaseException) -> str:
    if isinstance(err, UnsirError):
        return f"failed: {err}"
    return f"failed: {type(err).__name__}: {err}"


def compare(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int | str],
    methods: Sequence[str] = tuple(METHODS),
    settings: Mapping[str, Mapping[str, Any] | Any] | None = None,
    device: str | torch.device | None = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    retrain_config: TrainConfig | None = None,
    metrics: MetricSettings = MetricSettings(),
    reference: Classifier | None = None,
    train_reference: bool = True,
) -> Comparison:
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
    retrain_settings: Any = (
        RetrainSettings.from_train_config(retrain_config) if retrain_config is not None else settings.get("retrain")
    )
    reference_name = "none"
    if reference is not None:
        reference = reference.copy()
        reference.net.to(device).eval()
        _check_reference(reference, model, gone)
        measure.set_reference(reference)
        reference_name = "the retrained model handed in"
    elif "retrain" not in names and train_reference:
        names.insert(0, "retrain")
        notes.append(
            "'retrain' was not requested but was added (from the reference store when it holds one): it is "
            "the reference of activation distance, JS divergence, the privacy score and weight distance "
            "(train_reference=False skips it)."
        )

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
                result_model, base = (
                    reference,
                    {
                        "reads_forget": False,
                        "wall_s": reference.info.details.get("train_s"),
                        "settings": reference.info.details.get(
                            "settings", reference.info.details.get("train_config", {})
                        ),
                        "details": {"reused": True, "reference": {"handed_in": True}},
                    },
                )
            else:
                result = method.run(
                    model,
                    data,
                    request,
                    retrain_settings if name == "retrain" else settings.get(name),
                    device,
                    _with_prefix(progress, name),
                    cancel,
                )
                result_model = result.model
                if result.read_forget != method.reads_forget:  # a method must say truthfully what it read
                    notes.append(
                        f"{method.title} declared reads_forget={method.reads_forget} but read_forget="
                        f"{result.read_forget}."
                    )
                base = {
                    "reads_forget": result.read_forget,
                    "wall_s": result.wall_s,
                    "settings": method.resolved(result.settings, Request(model.info, data, tuple(request))),
                    "losses": result.losses,
                    "details": result.details,
                }
                if name == "retrain":
                    stored = result.details.get("reference", {})
                    if stored.get("reused"):  # loaded from the store: its time is the recorded training time
                        base["wall_s"] = result.details.get("train_s")
                        base["details"] = {**result.details, "reused": True}
                    measure.set_reference(result_model)
                    epochs = base["settings"].get("epochs")
                    reference_name = (
                        f"retrained from scratch ({epochs} epochs"
                        + (", from the reference store: " + Path(stored["path"]).name if stored.get("reused") else "")
                        + ")"
                    )
                    rows = [_with_reference(r, measure, models) for r in rows]
            row = measure.row(name, method.title, result_model, base)
            models[name] = result_model
        except Cancelled:
            cancelled = True
            row = MethodRow(name, _title(name), "cancelled", None)
        except Exception as err:  # one method's failure must not lose the others
            row = MethodRow(name, _title(name), _failure(err), None, settings=_settings_text(settings.get(name)))
            if name == "retrain":
                notes.append(
                    f"No retrained reference ({row.status}): activation distance, JS divergence and "
                    "weight distance to retrain are empty."
                )
        rows.append(row)

    if measure.reference is None and not any(n.startswith("No retrained reference") for n in notes):
        notes.append(
            "No retrained reference: activation distance, JS divergence, the privacy score and weight "
            "distance to retrain are empty."
        )
    weak = _reference_warning(rows)
    if weak:
        notes.append(weak)
    return Comparison(
        data.name,
        model.info.arch,
        data.class_names,
        gone,
        describe(device),
        tuple(rows),
        reference_name,
        metrics,
        round(time.perf_counter() - start, 2),
        cancelled,
        tuple(notes),
        weak,
        models,
    )


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
        raise ConfigError(
            f"The reference is a {reference.info.arch} with {reference.info.num_classes} classes; it "
            f"must match the model ({model.info.arch}, {model.info.num_classes} classes)."
        )
    if tuple(reference.info.forgotten) != tuple(gone):
        raise ConfigError(
            f"The reference was trained without classes {list(reference.info.forgotten)}, but this "
            f"comparison forgets {list(gone)}: retrain it without exactly these classes."
        )
