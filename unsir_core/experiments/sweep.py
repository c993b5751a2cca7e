"""What-if sweeps: UNSIR over a grid of settings, forget sets and seeds (the paper's Tables 1, 5, 6, 8, 9, Fig. 7).

A sweep expands into cells: every combination of the swept settings' values (dotted names of `UnsirConfig`,
e.g. "impair.lr") for every forget set and seed. Each cell is one `request.run_request`, measured the way a single
run is: A_Df and A_Dr after impair and after repair, the phase times, and optionally relearn time and membership
inference. The results are a tidy pandas DataFrame, one row per cell, written as CSV, Parquet or JSON.

Cells are cached on disk by their full configuration (data set and model fingerprints, forget set, UNSIR config,
metric options, device type), so a repeated or extended sweep runs only the cells it has not seen. Backends
(`sweep_backends`): in-process (default), a local process pool, or Ray; every one gives the same numbers on the
CPU (runs are seeded; a worker's torch thread count is set explicitly).
"""

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unsir_core.common.errors import Cancelled, ConfigError
from unsir_core.common.escaping import csv_text
from unsir_core.common.progress import CancelToken, ProgressEvent, ProgressFn
from unsir_core.data import ImageData
from unsir_core.models.classifier import Classifier

if TYPE_CHECKING:
    import pandas as pd

    from unsir_core.experiments.sweep_backends import Backend
from unsir_core.experiments.sweep_backends import Backend, InProcess
from unsir_core.experiments.sweep_cells import (
    STAGES,
    CellCache,
    cell_key,
    data_fingerprint,
    model_fingerprint,
    original_evaluations,
    row,
)
from unsir_core.experiments.sweep_grid import Cell, SweepSpec, expand

FORMATS = (".csv", ".parquet", ".json")  # what `SweepResult.write` can write


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

        rows = [
            {**row(c, self.records[c.index]), "cached": c.index in self.cached, "key": self.keys[c.index]}
            for c in self.cells
            if c.index in self.records
        ]
        return pd.DataFrame(rows)

    def write(self, path: str | Path) -> Path:
        """The table as CSV, Parquet (needs pyarrow) or JSON (records), by the file's suffix; written atomically."""
        return write_frame(self.frame(), path)


def write_frame(frame: "pd.DataFrame", path: str | Path) -> Path:
    from unsir_core.common.files import atomic_write

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ConfigError(
            f"Write the sweep as {', '.join(FORMATS)}, not {suffix or 'a file without a suffix'}: {path}."
        )
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
        raise ConfigError(
            "Writing Parquet needs pyarrow, which is not installed: `pip install pyarrow`, or write "
            ".csv or .json instead."
        )


def mean_by(frame: "pd.DataFrame", by: Sequence[str]) -> "pd.DataFrame":
    """Mean and standard deviation over seeds of A_Df and A_Dr after impair and after repair, per value of `by`
    (the paper's table layout: one row per setting value)."""
    ok = frame[frame["status"] == "ok"]
    cols = [f"{k}_{s}" for s in ("impair", "repair") for k in ("forget_acc", "retain_acc")] + ["unlearn_s"]
    grouped = ok.groupby(list(by), sort=False)[cols]
    import pandas as pd

    table = pd.concat([grouped.mean().round(2), grouped.std(ddof=0).round(2).add_suffix("_sd")], axis=1)
    table.insert(0, "seeds", ok.groupby(list(by), sort=False)["seed"].nunique())
    return table.reset_index()


def run_sweep(
    spec: SweepSpec,
    model: Classifier,
    data: ImageData,
    backend: "Backend | None" = None,
    device: str | torch.device = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    cache: CellCache | None = None,
    use_cache: bool = True,
) -> SweepResult:
    """Run every cell of `spec` not already in the cache, on `backend` (default: in this process).

    Progress: per finished cell an event of phase "sweep" (step = cells done, total = cells) whose metrics carry
    "cell" (its index), "cached" (1 or 0) and its A_Df/A_Dr of the original, after impair and after repair; the
    in-process backend also passes on each cell's own noise/impair/repair events. A cancel stops at the next step
    (in-process) or the next finished cell (other backends) and returns what finished, with `cancelled=True`; finished
    cells stay cached. The model is never changed.
    """

    start = time.perf_counter()
    backend = backend or InProcess()
    model.info.check_fits(data)
    cells = expand(spec, data)
    cache = cache or CellCache()
    device_type = backend.start(device)
    data_fp, model_fp = data_fingerprint(data), model_fingerprint(model)
    keys = {
        c.index: cell_key(data_fp, model_fp, c, data.resolve_classes(c.forget), spec.metrics, device_type)
        for c in cells
    }
    records: dict[int, dict[str, Any]] = {}
    cached: set[int] = set()
    by_index = {c.index: c for c in cells}

    def finished(cell: Cell, record: dict[str, Any]) -> None:
        records[cell.index] = record
        r = row(cell, record)
        metrics = {
            "cell": cell.index,
            "cached": float(cell.index in cached),
            **{f"{k}_{stage}": r[f"{k}_{stage}"] for stage in STAGES for k in ("forget_acc", "retain_acc")},
        }
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
    return SweepResult(
        spec,
        tuple(cells),
        records,
        keys,
        frozenset(cached),
        data.name,
        model.info.arch,
        backend.describe(),
        round(time.perf_counter() - start, 2),
        cancelled,
    )
