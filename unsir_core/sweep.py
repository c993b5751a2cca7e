"""What-if sweeps: UNSIR over a grid of settings, forget sets and seeds (the paper's Tables 1, 5, 6, 8, 9, Fig. 7).

A sweep expands into cells: every combination of the swept settings' values (dotted names of `UnsirConfig`,
e.g. "impair.lr") for every forget set and seed. Each cell is one `pipeline.run_unsir`, measured the way a single
run is: A_Df and A_Dr after impair and after repair, the phase times, and optionally relearn time and membership
inference. The results are a tidy pandas DataFrame, one row per cell, written as CSV, Parquet or JSON.

Cells are cached on disk by their full configuration (data set and model fingerprints, forget set, UNSIR config,
metric options, device type), so a repeated or extended sweep runs only the cells it has not seen. Backends
(`sweep_backends`): in-process (default), a local process pool, or Ray; every one gives the same numbers on the
CPU (runs are seeded; a worker's torch thread count is set explicitly).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import math
import time
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

import torch

from .classifier import Classifier
from .compare import MetricSettings
from .config import UnsirConfig
from .data import ImageData
from .device import pick_device
from .errors import Cancelled, ConfigError, UnsirError
from .escaping import csv_text
from .metrics.evaluate import Evaluation
from .paths import home
from .progress import CancelToken, ProgressEvent, ProgressFn

if TYPE_CHECKING:
    import pandas as pd

    from .sweep_backends import Backend

CACHE_VERSION = 1  # bump when what a cell measures changes, so stale cached cells are not reused
STAGES = ("original", "impair", "repair")  # the evaluations every cell reports
FORMATS = (".csv", ".parquet", ".json")  # what `SweepResult.write` can write


def cache_dir() -> Path:
    """Where finished cells are kept: $UNSIR_HOME/sweeps/cells (one small JSON file per cell)."""
    return home() / "sweeps" / "cells"


# ------------------------------------------------------------------ settings by dotted name

def setting_value(config: UnsirConfig, name: str) -> Any:
    """A field of `config` by dotted name ("impair.lr"); ConfigError naming the sweepable ones if unknown."""
    value: Any = config
    for part in name.split("."):
        if not is_dataclass(value) or part not in {f.name for f in fields(value)}:
            raise ConfigError(f"Unknown setting {name!r}. Sweepable settings: {', '.join(sweepable(config))}.")
        value = getattr(value, part)
    if is_dataclass(value) or isinstance(value, tuple):
        raise ConfigError(f"{name!r} is not a single number or word; sweep one of: {', '.join(sweepable(config))}.")
    return value


def sweepable(config: UnsirConfig = UnsirConfig()) -> list[str]:
    """Dotted names of every scalar UNSIR setting (the seed is swept with `seeds`, not here)."""
    names = []
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            names += [f"{f.name}.{g.name}" for g in fields(value) if not isinstance(getattr(value, g.name), tuple)]
        elif f.name != "seed":
            names.append(f.name)
    return names


def parse_value(name: str, text: Any, current: Any) -> Any:
    """One value for setting `name`, as the type of its `current` value (a float where it is None)."""
    if not isinstance(text, str):
        return text
    text = text.strip()
    try:
        if isinstance(current, bool):
            if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(text)
            return text.lower() in ("true", "1", "yes")
        if isinstance(current, int):
            return int(text)
        if isinstance(current, float) or current is None:
            return float(text)
    except ValueError:
        kind = "a whole number" if isinstance(current, int) and not isinstance(current, bool) else \
            "true or false" if isinstance(current, bool) else "a number"
        raise ConfigError(f"{name} takes {kind}, not {text!r}.") from None
    return text


def parse_ints(text: str, what: str) -> list[int]:
    """ "0, 1, 2" -> [0, 1, 2]; ConfigError naming `what` otherwise."""
    try:
        return [int(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} takes whole numbers separated by commas (e.g. 0,1,2), got {text!r}.") from None


@dataclass(frozen=True)
class Axis:
    """One swept setting and its values, in the order they are shown."""

    name: str  # dotted UNSIR setting, e.g. "impair.lr"
    values: tuple[Any, ...]  # the values it takes

    @classmethod
    def parse(cls, text: str, base: UnsirConfig) -> "Axis":
        """ "impair.lr=0.001,0.01,0.1" -> Axis, values typed like the base setting."""
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ConfigError(f"A swept setting is NAME=V1,V2,... (e.g. impair.lr=0.001,0.01,0.1), got {text!r}.")
        return cls.of(name, values.split(","), base)

    @classmethod
    def of(cls, name: str, values: Iterable[Any], base: UnsirConfig) -> "Axis":
        current = setting_value(base, name)
        parsed = tuple(dict.fromkeys(parse_value(name, v, current) for v in values if str(v).strip()))
        if not parsed:
            raise ConfigError(f"Give {name} at least one value.")
        return cls(name, parsed)


@dataclass(frozen=True)
class SweepMetrics:
    """What each cell measures beyond accuracy and time (both audits read forget-class images on purpose)."""

    relearn: bool = False  # relearn time of the unlearned model (slow: up to relearn_max_epochs fine-tunes)
    privacy: bool = False  # membership inference on the unlearned model, entropy and confidence attacks
    relearn_max_epochs: int = 10  # cap of the relearn time; the other metric settings are the Compare page's

    @property
    def settings(self) -> MetricSettings:
        return MetricSettings(relearn=self.relearn, relearn_max_epochs=self.relearn_max_epochs)


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep: the grid, the forget sets, the seeds, the settings not swept and the metrics."""

    axes: tuple[Axis, ...]  # swept settings (none: only forget sets x seeds)
    forget_sets: tuple[tuple[str, ...], ...]  # each one forget request (class names or indices)
    seeds: tuple[int, ...] = (0,)  # each cell runs once per seed
    base: UnsirConfig = field(default_factory=UnsirConfig)  # every setting the axes do not set
    metrics: SweepMetrics = field(default_factory=SweepMetrics)  # extra measurements per cell
    bases: tuple[tuple[tuple[str, ...], UnsirConfig], ...] = ()  # (forget set, its own base): the auto recipe
    # depends on the forget set; a forget set not listed here uses `base`

    def base_for(self, forget: Sequence[str]) -> UnsirConfig:
        return dict(self.bases).get(tuple(forget), self.base)


@dataclass(frozen=True)
class Cell:
    index: int  # position in the grid (row order of the results)
    forget: tuple[str, ...]  # class names of the forget request
    seed: int  # the run's seed
    values: tuple[tuple[str, Any], ...]  # (setting, value) of each axis
    config: UnsirConfig  # the full UNSIR settings of this run

    @property
    def label(self) -> str:
        parts = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values]
        return ", ".join([*parts, f"forget {', '.join(self.forget)}", f"seed {self.seed}"])


MAX_CELLS = 1_000  # runs in one sweep; the paper's largest study (Table 1: 4 forget sets x 3 seeds) has 12
MAX_SECONDS = 12 * 3600  # estimated time of one sweep


def grid_size(spec: SweepSpec) -> int:
    """How many cells the sweep has, counted without expanding it."""
    return len(spec.forget_sets) * math.prod(len(a.values) for a in spec.axes) * len(dict.fromkeys(spec.seeds))


def sweep_seconds(spec: SweepSpec, cells: Sequence[Cell], model: Classifier, data: ImageData,
                  images_per_s: float) -> float:
    """About how long `cells` run here: each cell's UNSIR training images (with its own settings) and those of
    its measurements, as the Compare page estimates a row (`compare_plan`), at `images_per_s`
    (`train.training_speed`)."""
    from .compare_plan import measurement_images
    from .methods.base import Request
    from .methods.unsir import unsir_images

    per_forget: dict[tuple[str, ...], tuple[Any, float]] = {}  # workload and measurement of each forget set
    images = 0.0
    for cell in cells:
        if cell.forget not in per_forget:
            request = tuple(data.forget_classes(cell.forget, model.info.forgotten))
            gone = tuple(sorted(set(request) | set(model.info.forgotten)))
            per_forget[cell.forget] = (Request(model.info, data, request).workload(),
                                       measurement_images(data, spec.metrics.settings, gone))
        work, measured = per_forget[cell.forget]
        images += unsir_images(cell.config, work) + measured
    return images / images_per_s


SPLIT = ("Give fewer values, forget sets or seeds, or split it into several sweeps (finished runs are cached, so "
         "the parts add up).")


def check_size(spec: SweepSpec) -> None:
    """Refuse a sweep of more than MAX_CELLS cells, before its grid is made."""
    cells = grid_size(spec)
    if cells > MAX_CELLS:
        raise ConfigError(f"This sweep has {cells:,} runs (values x forget sets x seeds); one sweep runs at most "
                          f"{MAX_CELLS:,}. {SPLIT}")


def check_time(cells: int, seconds: float) -> None:
    """Refuse a sweep of `cells` runs estimated (`sweep_seconds`) to take more than MAX_SECONDS, before it runs."""
    if seconds > MAX_SECONDS:
        raise ConfigError(f"This sweep of {cells:,} runs would take about {seconds / 3600:,.1f} hours here "
                          f"({seconds / cells:,.1f} s per run, estimated); one sweep runs at most "
                          f"{MAX_SECONDS / 3600:g} hours. {SPLIT}")


def expand(spec: SweepSpec, data: ImageData) -> list[Cell]:
    """Every cell of the sweep: forget sets x combinations of the axes' values x seeds, in that nesting order,
    each on its forget set's base settings.

    The size is checked first (`check_size`), and each cell's config here, so a value the engine refuses is an
    error before anything runs.
    """
    check_size(spec)
    if not spec.forget_sets:
        raise ConfigError("Give at least one forget set.")
    if not spec.seeds:
        raise ConfigError("Give at least one seed.")
    names = [a.name for a in spec.axes]
    if len(set(names)) != len(names):
        raise ConfigError(f"Each setting can be swept once; got {', '.join(names)}.")
    for axis in spec.axes:
        if axis.name == "seed":
            raise ConfigError("Sweep seeds with the seeds list, not as a setting.")
        setting_value(spec.base, axis.name)
    cells: list[Cell] = []
    for forget in spec.forget_sets:
        request = tuple(data.class_names[c] for c in data.forget_classes(forget))
        base = spec.base_for(forget)
        for combo in itertools.product(*(a.values for a in spec.axes)):
            values = tuple(zip(names, combo))
            for seed in dict.fromkeys(spec.seeds):
                try:
                    config = base.with_overrides(**dict(values), seed=int(seed))
                except TypeError as err:  # dataclasses.replace on an unknown field
                    raise ConfigError(f"Cannot set {dict(values)}: {err}.") from err
                cells.append(Cell(len(cells), request, int(seed), values, config))
    return cells


def nested_forget_sets(data: ImageData, first: Sequence[str], counts: Iterable[int]) -> tuple[tuple[str, ...], ...]:
    """Forget sets of growing size for "what if I forget 1, 2, 4 or 7 classes?" (paper Table 1).

    Each set holds the one before: `first` (the classes already chosen), then the other classes in index order.
    """
    chosen = [data.class_names[c] for c in data.resolve_classes(first)]
    order = chosen + [n for n in data.class_names if n not in chosen]
    out = []
    for k in counts:
        if not 1 <= k < data.num_classes:
            raise ConfigError(f"Forget 1 to {data.num_classes - 1} classes of {data.name}, not {k}.")
        out.append(tuple(order[:k]))
    return tuple(dict.fromkeys(out))


# ------------------------------------------------------------------ fingerprints and the cell cache

def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(part)
    return h.hexdigest()


def _tensor_bytes(t: torch.Tensor) -> bytes:
    head = f"{t.dtype}{tuple(t.shape)}".encode()
    return head + t.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def data_fingerprint(data: ImageData) -> str:
    """A digest of the whole data set (images, labels, class names): the same data gives the same one."""
    head = json.dumps([data.name, list(data.class_names)]).encode()
    return _digest([head, *(_tensor_bytes(t) for t in (data.train_x, data.train_y, data.test_x, data.test_y))])


def model_fingerprint(model: Classifier) -> str:
    """A digest of the model's weights and of what it is (architecture, classes, width, forgotten classes)."""
    info = model.info
    head = json.dumps([info.arch, list(info.class_names), info.width, list(info.forgotten), list(info.mean),
                       list(info.std), info.input_size]).encode()
    state = model.net.state_dict()
    return _digest([head, *(k.encode() + _tensor_bytes(state[k]) for k in sorted(state))])


def cell_key(data_fp: str, model_fp: str, cell: Cell, forget_indices: Sequence[int], metrics: SweepMetrics,
             device_type: str) -> str:
    """The cache key of a cell: everything its numbers depend on."""
    payload = {"version": CACHE_VERSION, "data": data_fp, "model": model_fp, "forget": sorted(forget_indices),
               "config": cell.config.to_dict(), "metrics": asdict(metrics),
               "metric_settings": asdict(metrics.settings), "device": device_type}
    return _digest([json.dumps(payload, sort_keys=True, default=list).encode()])


class CellCache:
    """Finished cells as JSON files named by their key; a damaged file counts as missing."""

    def __init__(self, folder: Path | None = None):
        self.folder = Path(folder) if folder is not None else cache_dir()

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.folder / f"{key}.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        from .files import atomic_write

        text = json.dumps(record)
        atomic_write(self.folder / f"{key}.json", lambda tmp: tmp.write_text(text))


# ------------------------------------------------------------------ one cell

def original_evaluations(model: Classifier, data: ImageData, cells: Sequence[Cell],
                         device: str | torch.device) -> dict[tuple[int, ...], Evaluation]:
    """The original's evaluation once per forget set of `cells` (by forgotten classes), so that no cell
    evaluates it again: every cell of a forget set reports the same Original figures."""
    from .pipeline import evaluate_original

    device = pick_device(device) if not isinstance(device, torch.device) else device
    out: dict[tuple[int, ...], Evaluation] = {}
    for cell in cells:
        try:
            forget = data.forget_classes(cell.forget, model.info.forgotten)
        except UnsirError:  # the cell reports its own error when it runs
            continue
        gone = tuple(sorted(set(forget) | set(model.info.forgotten)))
        if gone not in out:
            out[gone] = evaluate_original(model, data, gone, device)
    return out


def measure(model: Classifier, data: ImageData, forget: Sequence[str], config: UnsirConfig, metrics: SweepMetrics,
            device: str | torch.device, progress: ProgressFn | None = None, cancel: CancelToken | None = None,
            originals: Mapping[tuple[int, ...], Evaluation] | None = None) -> dict[str, Any]:
    """One cell: `run_unsir` and what a run on the dashboard reports, plus the audits asked for (`originals`:
    the original's evaluations the sweep already has, see `original_evaluations`).

    Returns {"report": the run's JSON report (with layer distances to the original under extras.weights),
    "audits": {"relearn": {...}, "mia": {...}} in the Results page's format}. A user error (NaN loss, a retain
    subset larger than the data, ...) becomes {"error": message}; Cancelled is raised.
    """
    from .metrics.privacy import MIA_VARIANTS, membership_inference
    from .metrics.relearn import accuracy, forget_probe, relearn_target, relearn_time
    from .metrics.weights import layer_distances
    from .pipeline import run_unsir

    try:
        run = run_unsir(model, data, forget, config, device, progress=progress, cancel=cancel, originals=originals)
        report = run.to_json()
        report["extras"] = {"weights": {"repair": [d.to_dict() for d in layer_distances(run.result.model, model)]}}
        unlearned, gone, ms = run.result.model, list(run.forgotten), metrics.settings
        audits: dict[str, Any] = {}
        if metrics.relearn:
            original = accuracy(run.original, *forget_probe(data, gone, ms.relearn_probe))
            target = relearn_target(original)  # the one definition of "relearned", as on Results and Compare
            result = relearn_time(unlearned, data, gone, target, ms.relearn_max_epochs, ms.relearn_samples,
                                  ms.relearn_lr, config.seed, probe_per_class=ms.relearn_probe)
            audits["relearn"] = {"target": target, "original": round(original, 2), "repair": result.to_dict()}
        if metrics.privacy:
            attacks = {v: membership_inference(unlearned, data, gone, variant=v, n=ms.mia_samples,
                                               seed=config.seed).to_dict() for v in MIA_VARIANTS}
            audits["mia"] = {"repair": attacks["entropy"]}
            report["extras"]["mia"] = attacks
        return {"report": report, "audits": audits}
    except Cancelled:
        raise
    except UnsirError as err:
        return {"error": str(err)}


def row(cell: Cell, record: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's row of the results table (NaN for what was not measured or failed)."""
    out: dict[str, Any] = {"cell": cell.index, "forget": ", ".join(cell.forget), "n_forget": len(cell.forget),
                           **dict(cell.values), "seed": cell.seed}
    report, audits = record.get("report"), record.get("audits", {})
    out["status"] = "ok" if report else f"failed: {record.get('error', 'unknown')}"
    metrics = report["metrics"] if report else {}
    for stage in STAGES:
        for key in ("forget_acc", "retain_acc"):
            out[f"{key}_{stage}"] = metrics[stage][key] if stage in metrics else math.nan
    timings = report["timings_s"] if report else {}
    for phase in ("noise", "impair", "repair", "unlearn", "evaluate"):
        out[f"{phase}_s"] = timings.get(phase, math.nan)
    relearn = audits.get("relearn", {}).get("repair")
    out["relearn_epochs"] = math.nan if not relearn or relearn["epochs"] is None else relearn["epochs"]
    out["relearn_capped"] = relearn["capped"] if relearn else None
    mia = report.get("extras", {}).get("mia", {}) if report else {}
    for variant in ("entropy", "confidence"):
        out[f"mia_{variant}"] = mia[variant]["forget_member_rate"] if variant in mia else math.nan
    out["degraded"] = report.get("degraded") if report else None  # the collapse guard's verdict on the run
    out["device"] = report["device"] if report else ""
    return out


# ------------------------------------------------------------------ the sweep

@dataclass(frozen=True)
class SweepResult:
    spec: SweepSpec
    cells: tuple[Cell, ...]  # the whole grid
    records: dict[int, dict[str, Any]]  # cell index -> {"report", "audits"} or {"error"}, finished cells only
    keys: dict[int, str]  # cell index -> cache key
    cached: frozenset[int]  # cells that came from the cache (the others ran now)
    dataset: str
    arch: str
    backend: str  # "in-process", "process pool (N workers)", "ray (...)"
    total_s: float  # seconds for the whole call
    cancelled: bool = False  # True when cancelled; the finished cells are kept (and cached)

    @property
    def ran(self) -> int:
        return len(self.records) - len(self.cached)

    def frame(self) -> "pd.DataFrame":
        """One row per finished cell, in grid order: the swept settings, forget set, seed, metrics, times."""
        import pandas as pd

        rows = [{**row(c, self.records[c.index]), "cached": c.index in self.cached, "key": self.keys[c.index]}
                for c in self.cells if c.index in self.records]
        return pd.DataFrame(rows)

    def write(self, path: str | Path) -> Path:
        """The table as CSV, Parquet (needs pyarrow) or JSON (records), by the file's suffix; written atomically."""
        return write_frame(self.frame(), path)


def write_frame(frame: "pd.DataFrame", path: str | Path) -> Path:
    from .files import atomic_write

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(f"Write the sweep as {', '.join(FORMATS)}, not {suffix or 'a file without a suffix'}: {path}.")
    if suffix == ".parquet":
        check_parquet()
        atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
    elif suffix == ".json":
        atomic_write(path, lambda tmp: tmp.write_text(frame.to_json(orient="records", indent=2)))
    else:
        atomic_write(path, lambda tmp: tmp.write_text(csv_text(frame)))
    return path


def parquet_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pyarrow") is not None


def check_parquet() -> None:
    if not parquet_available():
        raise ConfigError("Writing Parquet needs pyarrow, which is not installed: `pip install pyarrow`, or write "
                          ".csv or .json instead.")


def summary(frame: "pd.DataFrame", by: Sequence[str]) -> "pd.DataFrame":
    """Mean and standard deviation over seeds of A_Df and A_Dr after impair and after repair, per value of `by`
    (the paper's table layout: one row per setting value)."""
    ok = frame[frame["status"] == "ok"]
    cols = [f"{k}_{s}" for s in ("impair", "repair") for k in ("forget_acc", "retain_acc")] + ["unlearn_s"]
    grouped = ok.groupby(list(by), sort=False)[cols]
    import pandas as pd

    table = pd.concat([grouped.mean().round(2), grouped.std(ddof=0).round(2).add_suffix("_sd")], axis=1)
    table.insert(0, "seeds", ok.groupby(list(by), sort=False)["seed"].nunique())
    return table.reset_index()


def run_sweep(spec: SweepSpec, model: Classifier, data: ImageData, backend: "Backend | None" = None,
              device: str | torch.device = "auto", progress: ProgressFn | None = None,
              cancel: CancelToken | None = None, cache: CellCache | None = None, use_cache: bool = True) -> SweepResult:
    """Run every cell of `spec` not already in the cache, on `backend` (default: in this process).

    Progress: per finished cell an event of phase "sweep" (step = cells done, total = cells) whose metrics carry
    "cell" (its index), "cached" (1 or 0) and its A_Df/A_Dr of the original, after impair and after repair; the in-process backend also
    passes on each cell's own noise/impair/repair events. A cancel stops at the next step (in-process) or the
    next finished cell (other backends) and returns what finished, with `cancelled=True`; finished cells stay
    cached. The model is never changed.
    """
    from .sweep_backends import InProcess

    start = time.perf_counter()
    backend = backend or InProcess()
    model.info.check_fits(data)
    cells = expand(spec, data)
    cache = cache or CellCache()
    device_type = backend.start(device)
    data_fp, model_fp = data_fingerprint(data), model_fingerprint(model)
    keys = {c.index: cell_key(data_fp, model_fp, c, data.resolve_classes(c.forget), spec.metrics, device_type)
            for c in cells}
    records: dict[int, dict[str, Any]] = {}
    cached: set[int] = set()
    by_index = {c.index: c for c in cells}

    def finished(cell: Cell, record: dict[str, Any]) -> None:
        records[cell.index] = record
        r = row(cell, record)
        metrics = {"cell": cell.index, "cached": float(cell.index in cached),
                   **{f"{k}_{stage}": r[f"{k}_{stage}"] for stage in STAGES for k in ("forget_acc", "retain_acc")}}
        if progress is not None:
            progress(ProgressEvent("sweep", len(records), len(cells), None, time.perf_counter() - start, metrics))

    todo = []
    for cell in cells:
        hit = cache.get(keys[cell.index]) if use_cache else None
        if hit is not None:
            cached.add(cell.index)
            finished(cell, hit)
        else:
            todo.append(cell)
    cancelled = False
    try:
        originals = original_evaluations(model, data, todo, device_type)
        for index, record in backend.run(todo, model, data, spec.metrics, originals, progress, cancel):
            if "report" in record or "error" in record:
                cache.put(keys[index], record)
            finished(by_index[index], record)
    except Cancelled:
        cancelled = True
    cancelled = cancelled or len(records) < len(cells)
    return SweepResult(spec, tuple(cells), records, keys, frozenset(cached), data.name, model.info.arch,
                       backend.describe(), round(time.perf_counter() - start, 2), cancelled)
