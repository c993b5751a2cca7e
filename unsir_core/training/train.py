"""Training an original model on all classes, or the retrained gold standard on the retain classes.

One code path for both: `fit` with `exclude=forget classes` is "retrain from scratch". On CUDA the
data sits on the GPU as uint8, batches are index tensors, flips/crops happen on the GPU, and the
forward runs under bf16 autocast in channels_last; on CPU it is plain fp32.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import fields, replace

import torch
import torch.nn.functional as F

from unsir_core.common.batches import flip_and_crop, index_batches, num_batches
from unsir_core.common.config import TrainConfig
from unsir_core.common.device import autocast, memory_format, pick_device, synchronize
from unsir_core.common.optim import make_optimizer, param_groups
from unsir_core.common.progress import CancelToken, ProgressFn, Reporter
from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import evaluate
from unsir_core.models import get_spec, load_imagenet_weights
from unsir_core.models.classifier import Classifier, ModelInfo


def train_one_epoch(
    model: Classifier,
    x: torch.Tensor,
    y: torch.Tensor,
    opt: torch.optim.Optimizer,
    sched,
    cfg: TrainConfig,
    gen: torch.Generator,
    reporter: Reporter,
    step0: int,
) -> int:
    """One pass over uint8 images x [N, C, H, W] and labels y [N] on the model's device."""
    device = x.device
    model.net.train()
    step = step0
    for idx in index_batches(len(x), cfg.batch_size, gen, device, drop_last=True):
        xb = x[idx]
        if cfg.augment:
            xb = flip_and_crop(xb, gen)
        inputs = model.prepare(xb).contiguous(memory_format=memory_format(device))
        with autocast(device):
            logits = model.net(inputs)
        loss = F.cross_entropy(logits.float(), y[idx], label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        step += 1
        reporter.step(step, loss)
    return step


def fit(
    data: ImageData,
    arch: str,
    cfg: TrainConfig = TrainConfig(),
    exclude: Sequence[int | str] = (),
    width: float | None = None,
    device: str | torch.device | None = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Classifier:
    """Train `arch` from scratch (or from ImageNet weights) on `data`, leaving out classes `exclude`.

    Returns a new Classifier (on the CPU) whose info records the config, the excluded classes and
    the test accuracy on the kept classes.
    """
    device = pick_device(device) if not isinstance(device, torch.device) else device
    excluded = data.resolve_classes(exclude)
    if excluded:
        data.forget_classes(excluded)  # refuses leaving out every class
    torch.manual_seed(cfg.seed)
    info = ModelInfo.for_data(
        arch,
        data,
        width,
        pretrained=cfg.pretrained,
        input_size=cfg.input_size,
        forgotten=tuple(excluded),
        origin="retrained" if excluded else "trained",
        details={"train_config": cfg.to_dict()},
    )
    model = Classifier.create(info)
    if cfg.pretrained:
        load_imagenet_weights(model.net, get_spec(arch))
    model.net.to(device, memory_format=memory_format(device))

    gpu_data = data.to(device)
    keep = ~gpu_data.class_mask(gpu_data.train_y, excluded) if excluded else None
    x = gpu_data.train_x[keep] if keep is not None else gpu_data.train_x
    y = gpu_data.train_y[keep] if keep is not None else gpu_data.train_y

    steps_per_epoch = num_batches(len(x), cfg.batch_size, drop_last=True)
    total = steps_per_epoch * cfg.epochs
    opt = make_optimizer(cfg.optimizer, param_groups(model.net, get_spec(arch).head, cfg.lr, None), cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=total, pct_start=0.25)
    gen = torch.Generator().manual_seed(cfg.seed)
    reporter = Reporter("train", total, progress, cancel, hint="Lower the learning rate.")
    start, step = time.perf_counter(), 0
    for _ in range(cfg.epochs):
        step = train_one_epoch(model, x, y, opt, sched, cfg, gen, reporter, step)
    reporter.finish()
    train_s = time.perf_counter() - start

    result = evaluate(model, gpu_data, excluded)
    acc = result.retain_acc if excluded else result.overall_acc
    model.net.eval()
    model.net.zero_grad(set_to_none=True)
    model.net.to("cpu", memory_format=torch.contiguous_format)
    details = {**info.details, "train_s": round(train_s, 2), "device": str(device)}
    return Classifier(model.net, replace(info, test_acc=round(acc, 2), details=details))


def gold_standard_config(info: ModelInfo, seed: int, epochs: int | None = None) -> TrainConfig:
    """How to retrain the gold standard for a model: its own recorded training settings (so the two are
    comparable; keys this version does not know are skipped), with the run's `seed` and, when given, `epochs`.
    The seed matters: where a retrained model sends a forgotten class's images varies between seeds."""
    known = {f.name for f in fields(TrainConfig)}
    recorded = {k: v for k, v in info.details.get("train_config", {}).items() if k in known}
    if info.input_size != get_spec(info.arch).input_size:  # the side it sees, even when no settings were recorded
        recorded["input_size"] = info.input_size
    return replace(TrainConfig(**recorded), seed=seed, **({"epochs": epochs} if epochs else {}))


def training_speed(
    info: ModelInfo, data: ImageData, cfg: TrainConfig, device: torch.device, batches: int | None = None
) -> tuple[float, float]:
    """How fast `fit` trains `info`'s architecture on `device`: (ms, images per second) for `batches`
    steps of `cfg.batch_size` (None: one epoch of `data`), timed after 2 warm-up steps, on fresh weights."""
    model = Classifier.create(info)
    model.net.to(device, memory_format=memory_format(device))
    opt = make_optimizer(
        cfg.optimizer, param_groups(model.net, get_spec(info.arch).head, cfg.lr, None), cfg.weight_decay
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)
    gen = torch.Generator().manual_seed(0)
    n = len(data.train_x) if batches is None else min(len(data.train_x), batches * cfg.batch_size)
    x, y = data.train_x[:n].to(device), data.train_y[:n].to(device)
    warm = min(n, 2 * cfg.batch_size)
    train_one_epoch(model, x[:warm], y[:warm], opt, sched, cfg, gen, Reporter("train", 2), 0)
    synchronize(device)
    start = time.perf_counter()
    steps = train_one_epoch(model, x, y, opt, sched, cfg, gen, Reporter("train", 0), 0)
    synchronize(device)
    seconds = time.perf_counter() - start
    return seconds * 1000, steps * cfg.batch_size / seconds
