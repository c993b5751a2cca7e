"""Helpers shared by several test files: the repository root, the shipped checkpoint, a model's bytes as .pt,
and run reports (as UnsirRun.to_json writes them) to summarise, render and escape without training."""

from __future__ import annotations

import copy
import io
from pathlib import Path

import torch

from unsir_core.algorithm.presets import PRESETS
from unsir_core.checkpoints.lineage import entry
from unsir_core.common.paths import ASSETS_DIR

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ASSETS_DIR / "shapes10-smallcnn.safetensors"


def pt_bytes(model) -> bytes:
    buf = io.BytesIO()
    torch.save(model.net.state_dict(), buf)
    return buf.getvalue()


NAMES = ["circle", "square", "triangle", "star"]
PNG = (
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)  # a 1x1 picture


def evaluation(forget_acc, retain_acc, per_class, dist):
    return {
        "forget_acc": forget_acc,
        "retain_acc": retain_acc,
        "overall_acc": retain_acc,
        "per_class_acc": per_class,
        "prediction_distribution": dist,
        "n_forget": sum(dist),
        "n_retain": 300,
    }


def report(retrain=True, repair_retain=90.0, repair_forget=0.0):
    """A run JSON as UnsirRun.to_json writes it: forget triangle from a 4-class model."""
    metrics = {
        "original": evaluation(93.5, 95.0, [96, 94, 93.5, 95], [0, 3, 94, 3]),
        "impair": evaluation(10.0, 60.0, [60, 60, 10, 60], [20, 40, 10, 30]),
        "repair": evaluation(repair_forget, repair_retain, [92, 90, repair_forget, 88], [0, 35, 0, 65]),
    }
    if retrain:
        metrics["retrain"] = evaluation(0.0, 94.0, [95, 94, 0, 93], [5, 40, 0, 55])
    return {
        "preset": "shapes10",
        "dataset": "shapes10",
        "arch": "smallcnn",
        "class_names": NAMES,
        "forget": ["triangle"],
        "forget_indices": [2],
        "forgotten_total": ["triangle"],
        "config": PRESETS["shapes10"].config.with_overrides(seed=3).to_dict(),
        "device": "CPU (2 threads)",
        "timings_s": {
            "noise": 0.3,
            "impair": 1.1,
            "repair": 2.0,
            "unlearn": 3.4,
            "evaluate": 0.5,
            **({"retrain": 300.0} if retrain else {}),
        },
        "metrics": metrics,
        "prediction_distribution": dict(zip(NAMES, metrics["repair"]["prediction_distribution"])),
        "extras": {
            "parent": "shapes10-smallcnn.safetensors",
            "lineage": [],
            "environment": {"device": "CPU (2 threads)", "torch": "2.x"},
            "gallery": {
                "images": [
                    {"index": 5, "label": "triangle", "group": "forget", "png": PNG},
                    {"index": 9, "label": "star", "group": "retain", "png": PNG},
                ],
                "predictions": {
                    "original": [["triangle", 99.0], ["star", 97.0]],
                    "repair": [["star", 80.0], ["star", 95.0]],
                },
            },
        },
    }


def chained():
    """The second request of a chain (star after triangle), with the true original and the starting model."""
    first = report(retrain=False)
    second = copy.deepcopy(first)
    second.update(forget=["star"], forget_indices=[3], forgotten_total=["triangle", "star"])
    m = second["metrics"]
    m["start"] = evaluation(46.0, 91.0, [92, 90, 0, 92], [0, 30, 0, 70])
    m["original"] = evaluation(94.3, 95.0, [96, 94, 93.5, 95], [0, 3, 94, 98])
    m["repair"] = evaluation(0.0, 88.0, [90, 86, 0, 0], [60, 40, 0, 0])
    second["metrics"] = {k: m[k] for k in ("original", "start", "impair", "repair")}
    second["extras"]["lineage"] = [entry(first, "shapes10-smallcnn.safetensors")]
    second["extras"]["parent"] = "run 1"
    return second


# the short UNSIR flags of CLI tests: a quick run, not the tuned recipe
FAST = ["--retain-per-class", "20", "--noise-batch", "8", "--noise-steps", "2", "--noise-copies", "2"]
FAST += ["--repair-epochs", "1", "--quiet", "--device", "cpu"]


def run_cli(capsys, *args):
    """`python -m unsir_core ARGS` in this process: (status, stdout, stderr); argparse errors exit 2 too."""
    from unsir_core.cli import main as cli

    try:
        code = cli.main(list(args))
    except SystemExit as stop:
        code = stop.code
    out = capsys.readouterr()
    return code, out.out, out.err
