"""Benchmark of every phase: noise, impair, repair, evaluation, one training epoch, GradCAM.

`python -m unsir_core bench` needs no download. On CUDA it builds a CIFAR-sized data set on the
device (50,000 train / 10,000 test uint8 images, 32x32x3, 10 classes) and times the CIFAR-stem
ResNet18, the torchvision-stem ResNet18 and All-CNN at the paper's settings (256 noise samples x 20
copies, 1,000 retain samples per class, batch 256). On CPU it times the shipped models of a data set
(default the embedded Shapes-10; `--dataset fashionmnist` for the shipped Fashion-MNIST model) with the
auto recipe. All figures come from one process: warm timings (the first call's CUDA set-up is reported
separately), the evaluation of each model as a request makes it (the original's first, uncached, then
from the cache of fixed models' predictions; the impaired; the repaired), the whole request (unlearning
and evaluation), images per second, peak GPU memory, peak host RSS, and the ratio of one training epoch
to a whole UNSIR run.
"""

from __future__ import annotations

import platform
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import torch

from unsir_core.algorithm.pipeline import evaluate_stages
from unsir_core.algorithm.presets import PRESETS
from unsir_core.algorithm.recipe import choose_recipe
from unsir_core.algorithm.unlearn import unlearn
from unsir_core.common.config import TrainConfig, UnsirConfig
from unsir_core.common.device import describe, memory_format, pick_device, synchronize
from unsir_core.common.errors import ConfigError
from unsir_core.data import DEFAULT_DATASET, ImageData, load_dataset
from unsir_core.models import DEFAULT_MODEL
from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.training.train import training_speed


@dataclass(frozen=True)
class Case:
    arch: str  # registry key
    width: float  # channel multiplier
    config: UnsirConfig  # UNSIR settings timed
    preset: str  # name of those settings


def cifar_sized(device: torch.device, seed: int = 0, n_train: int = 50_000, n_test: int = 10_000) -> ImageData:
    """Random CIFAR-sized uint8 data made directly on the device (timings do not depend on content)."""
    g = torch.Generator(device=device).manual_seed(seed)
    x = torch.randint(0, 256, (n_train + n_test, 3, 32, 32), generator=g, device=device, dtype=torch.uint8)
    y = torch.arange(n_train + n_test, device=device) % 10
    names = tuple(f"class{i}" for i in range(10))
    stats = (0.5, 0.5, 0.5), (0.29, 0.29, 0.29)
    return ImageData("cifar-sized", names, x[:n_train], y[:n_train], x[n_train:], y[n_train:], *stats)


def timed(fn: Callable[[], Any], device: torch.device) -> tuple[Any, float]:
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return out, (time.perf_counter() - start) * 1000


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024


def bench_case(
    case: Case, data: ImageData, device: torch.device, model: Classifier | None = None, repeats: int = 1
) -> dict[str, Any]:
    """Time one architecture; `model` defaults to a freshly initialised one (timing only)."""
    from unsir_core.explain.gradcam import heatmaps

    if model is None:
        torch.manual_seed(0)
        model = Classifier.create(ModelInfo.for_data(case.arch, data, case.width))
    model.net.to(device, memory_format=memory_format(device))
    cfg = case.config
    row: dict[str, Any] = {"arch": case.arch, "width": case.width, "preset": case.preset}

    def run_unsir(forget: list[int]) -> dict[str, float]:
        """One request: noise, impair, repair, then the three evaluations as `run_unsir` makes them."""
        result = unlearn(model, data, forget, cfg, device)
        _, seconds = evaluate_stages(model, result, data, device)
        phases = {k: v * 1000 for k, v in result.timings_s.items() if k != "unlearn"}
        evals = {f"evaluate_{stage}": s * 1000 for stage, s in seconds.items()}
        eval_ms = sum(evals.values())
        return {**phases, **evals, "evaluate": eval_ms, "total": sum(phases.values()) + eval_ms}

    first, first_ms = timed(lambda: run_unsir([0]), device)  # includes cuDNN autotuning and allocator warm-up
    row["first_call_ms"] = round(first_ms, 1)
    row["evaluate_original_first_ms"] = round(first["evaluate_original"], 1)  # before its predictions were cached
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    one = min((run_unsir([0]) for _ in range(repeats)), key=lambda r: r["total"])
    if device.type == "cuda":
        row["peak_gpu_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    five = run_unsir(list(range(5)))
    row.update({f"{k}_ms": round(v, 1) for k, v in one.items()})
    row["unsir_5_classes_ms"] = round(five["total"], 1)
    row["ratio_5_to_1_classes"] = round(five["total"] / one["total"], 2)

    n_retain = cfg.retain_per_class * (data.num_classes - 1)
    n_noise = cfg.noise.batch_size
    row["images_per_s"] = {
        "noise": round(n_noise * cfg.noise.steps / one["noise"] * 1000),
        "impair": round((n_retain + n_noise * cfg.noise_copies) * cfg.impair.epochs / one["impair"] * 1000),
        "repair": round(n_retain * cfg.repair.epochs / one["repair"] * 1000),
        "evaluate": round(len(data.test_x) / one["evaluate_repair"] * 1000),  # one model's test split
    }
    row["train_epoch_ms"], row["images_per_s"]["train"] = bench_train_epoch(case, data, device)
    row["ratio_train_epoch_to_unsir"] = round(row["train_epoch_ms"] / one["total"], 2)
    images = data.test_x[:32].to(device)
    targets = data.test_y[:32].tolist()
    heatmaps(model, images, targets, "gradcam", device)  # warm
    _, cam_ms = timed(lambda: heatmaps(model, images, targets, "gradcam", device), device)
    row["gradcam_32_ms"] = round(cam_ms, 1)
    return row


def bench_train_epoch(case: Case, data: ImageData, device: torch.device) -> tuple[float, int]:
    """One epoch of training from scratch (warm: two steps first), in ms and images per second."""
    cfg = TrainConfig(batch_size=256 if device.type == "cuda" else 128)
    ms, per_s = training_speed(ModelInfo.for_data(case.arch, data, case.width), data, cfg, device)
    return round(ms, 1), round(per_s)


def cases_for(
    device: torch.device, dataset: str = DEFAULT_DATASET
) -> tuple[list[Case], ImageData, dict[str, Classifier]]:
    """GPU: the paper's models on CIFAR-sized data. CPU: the shipped models of `dataset` on it."""
    if device.type == "cuda":
        paper = PRESETS["paper-cifar10"]
        cases = [Case(a, 1.0, paper.config, paper.name) for a in ("resnet18", "resnet18_tv", "allcnn")]
        return cases, cifar_sized(device), {}
    from unsir_core.checkpoints.store import list_models, load_model

    data = load_dataset(dataset).to(device)
    shipped = {m.info.arch: m for m in list_models(dataset) if m.shipped and m.info.origin == "trained"}
    if not shipped:
        raise ConfigError(f"No shipped model for {dataset} in assets/models: bench times shipped models only.")
    cases, models = [], {}
    for arch, stored in sorted(shipped.items(), key=lambda kv: (kv[0] != DEFAULT_MODEL, kv[0])):  # default first
        models[arch] = load_model(stored.path)
        recipe = choose_recipe(data, models[arch].info, [0])  # as `unlearn --forget 0` without a preset
        cases.append(Case(arch, stored.info.width, recipe.config, recipe.name))
    return cases, data, models


def run_bench(
    device: str | None = "auto",
    archs: list[str] | None = None,
    repeats: int = 3,
    quick: bool = False,
    dataset: str = DEFAULT_DATASET,
) -> dict[str, Any]:
    """Time every case on `device` (on CPU: the shipped models of `dataset`); `quick` (the CI smoke test) times
    the default model once on 2,000 images."""
    dev = pick_device(device)
    cases, data, models = cases_for(dev, dataset)
    if archs:
        unknown = set(archs) - {c.arch for c in cases}
        if unknown:
            raise ConfigError(
                f"No benchmark case for {', '.join(sorted(unknown))} on {dev.type}; "
                f"cases: {', '.join(c.arch for c in cases)}."
            )
        cases = [c for c in cases if c.arch in archs]
    if quick:  # a smoke test: small enough for CI, same code path
        c = cases[0]
        small = c.config.with_overrides(**{"retain_per_class": 100, "noise.steps": 5, "repair.epochs": 1})
        cases, repeats = [replace(c, config=small, preset=f"{c.preset} (quick)")], 1
        data = replace(data, train_x=data.train_x[:2000], train_y=data.train_y[:2000])
    rows = [bench_case(c, data, dev, models.get(c.arch), repeats) for c in cases]
    return {
        "device": describe(dev),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "data": {"name": data.name, "train": len(data.train_x), "test": len(data.test_x)},
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "rows": rows,
    }


def format_table(report: dict[str, Any]) -> str:
    """A Markdown table of the main figures, for the terminal and the README."""
    head = (
        "| model | preset | noise ms | impair ms | repair ms | eval original ms (first) | eval impaired ms | "
        "eval repaired ms | eval ms | UNSIR total ms | 5 classes / 1 | train epoch ms | train img/s | epoch / UNSIR | "
        "GradCAM 32 ms | first call ms | peak GPU MiB |"
    )
    lines = [
        f"Device: {report['device']} (torch {report['torch']}, {report['threads']} threads); data "
        f"{report['data']['name']} {report['data']['train']}/{report['data']['test']}; "
        f"peak RSS {report['peak_rss_mib']} MiB",
        "",
        head,
        "|" + "---|" * 17,
    ]
    for r in report["rows"]:
        lines.append(
            f"| {r['arch']} (w {r['width']}) | {r['preset']} | {r['noise_ms']} | {r['impair_ms']} | {r['repair_ms']} | "
            f"{r['evaluate_original_ms']} ({r['evaluate_original_first_ms']}) | {r['evaluate_impair_ms']} | "
            f"{r['evaluate_repair_ms']} | {r['evaluate_ms']} | **{r['total_ms']}** | {r['ratio_5_to_1_classes']} | "
            f"{r['train_epoch_ms']} | "
            f"{r['images_per_s']['train']} | {r['ratio_train_epoch_to_unsir']} | {r['gradcam_32_ms']} | "
            f"{r['first_call_ms']} | {r.get('peak_gpu_mib', '-')} |"
        )
    return "\n".join(lines)
