"""One cell of a what-if sweep: measured like a single run (`measure`), and cached on disk by its full
configuration (data set and model fingerprints, forget set, UNSIR config, metric options, device type)."""

import hashlib
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unsir_core.common.config import UnsirConfig
from unsir_core.common.device import pick_device
from unsir_core.common.errors import Cancelled, UnsirError
from unsir_core.common.paths import home
from unsir_core.common.progress import CancelToken, ProgressFn
from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import Evaluation
from unsir_core.models.classifier import Classifier

if TYPE_CHECKING:
    pass
from unsir_core.experiments.sweep_grid import Cell, SweepMetrics

CACHE_VERSION = 1  # bump when what a cell measures changes, so stale cached cells are not reused
STAGES = ("original", "impair", "repair")  # the evaluations every cell reports


def cache_dir() -> Path:
    """Where finished cells are kept: $UNSIR_HOME/sweeps/cells (one small JSON file per cell)."""
    return home() / "sweeps" / "cells"


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
    head = json.dumps(
        [
            info.arch,
            list(info.class_names),
            info.width,
            list(info.forgotten),
            list(info.mean),
            list(info.std),
            info.input_size,
        ]
    ).encode()
    state = model.net.state_dict()
    return _digest([head, *(k.encode() + _tensor_bytes(state[k]) for k in sorted(state))])


def cell_key(
    data_fp: str, model_fp: str, cell: Cell, forget_indices: Sequence[int], metrics: SweepMetrics, device_type: str
) -> str:
    """The cache key of a cell: everything its numbers depend on."""
    payload = {
        "version": CACHE_VERSION,
        "data": data_fp,
        "model": model_fp,
        "forget": sorted(forget_indices),
        "config": cell.config.to_dict(),
        "metrics": asdict(metrics),
        "metric_settings": asdict(metrics.settings),
        "device": device_type,
    }
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
        from unsir_core.common.files import atomic_write

        text = json.dumps(record)
        atomic_write(self.folder / f"{key}.json", lambda tmp: tmp.write_text(text))


def original_evaluations(
    model: Classifier, data: ImageData, cells: Sequence[Cell], device: str | torch.device
) -> dict[tuple[int, ...], Evaluation]:
    """The original's evaluation once per forget set of `cells` (by forgotten classes), so that no cell
    evaluates it again: every cell of a forget set reports the same Original figures."""
    from unsir_core.algorithm.pipeline import evaluate_original

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


def measure(
    model: Classifier,
    data: ImageData,
    forget: Sequence[str],
    config: UnsirConfig,
    metrics: SweepMetrics,
    device: str | torch.device,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    originals: Mapping[tuple[int, ...], Evaluation] | None = None,
) -> dict[str, Any]:
    """One cell: `run_request`, the record a run on the dashboard makes, plus the audits asked for (`originals`:
    the original's evaluations the sweep already has, see `original_evaluations`).

    Returns {"report": the run's JSON report (with layer distances to the original under extras.weights),
    "audits": {"relearn": {...}, "mia": {...}} in the Results page's format}. A user error (NaN loss, a retain
    subset larger than the data, ...) becomes {"error": message}; Cancelled is raised.
    """
    from unsir_core.algorithm.recipe import Recipe
    from unsir_core.algorithm.request import UnlearningRequest, run_request
    from unsir_core.metrics.audits import membership, relearn_audit
    from unsir_core.metrics.privacy import MIA_VARIANTS

    try:
        request = UnlearningRequest(model, data, tuple(forget), recipe=Recipe("custom", config), views=False)
        run = run_request(request, device, progress=progress, cancel=cancel, originals=originals)
        report = run.to_json()
        unlearned, gone = run.result.model, list(run.forgotten)
        ms = replace(metrics.settings, seed=config.seed)  # the audits of a cell follow its seed, as a run's do
        audits: dict[str, Any] = {}
        if metrics.relearn:  # the same audit as on Results and in Compare
            audits["relearn"] = relearn_audit(run.original, {"repair": unlearned}, data, gone, ms)
        if metrics.privacy:
            attacks = {v: membership(unlearned, data, gone, v, ms).to_dict() for v in MIA_VARIANTS}
            audits["mia"] = {"repair": attacks["entropy"]}
            report["extras"]["mia"] = attacks
        return {"report": report, "audits": audits}
    except Cancelled:
        raise
    except UnsirError as err:
        return {"error": str(err)}


def row(cell: Cell, record: Mapping[str, Any]) -> dict[str, Any]:
    """The cell's row of the results table (NaN for what was not measured or failed)."""
    out: dict[str, Any] = {
        "cell": cell.index,
        "forget": ", ".join(cell.forget),
        "n_forget": len(cell.forget),
        **dict(cell.values),
        "seed": cell.seed,
    }
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
