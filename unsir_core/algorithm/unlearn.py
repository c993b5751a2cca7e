"""UNSIR: error-maximizing noise, then one impair epoch on noise + a small retain subset, then repair.

Zero-glance: the only training images read here are the retain subset and a few held-out retain-class
images that check repair, both chosen per retain class by `split_retain`; forget-class training images are
never indexed. The input model is never
modified: all work happens on a copy, and a NaN/inf loss raises `DivergedError` (the caller keeps
the original).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

from unsir_core.algorithm.check import RepairCheck, RepairOutcome
from unsir_core.algorithm.noise import Noise, freeze, optimize_noise, random_noise
from unsir_core.common.batches import num_batches
from unsir_core.common.config import PhaseConfig, UnsirConfig
from unsir_core.common.device import autocast, memory_format, pick_device, synchronize
from unsir_core.common.errors import ConfigError
from unsir_core.common.optim import anneal_schedule, freeze_prefixes, frozen_names, make_optimizer, param_groups
from unsir_core.common.progress import CancelToken, ProgressFn, Reporter, emit
from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import evaluation_of, predict_logits
from unsir_core.models import get_spec
from unsir_core.models.classifier import Classifier


def split_retain(
    train_y: torch.Tensor, retain_classes: Sequence[int], per_class: int, held_out: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices of the retain subset [R] (`per_class` training images of each retain class) and of the check's
    held-out images [V] (up to `held_out` more of each class, what the class has left), seeded per class.

    Each class is drawn from its own generator, so the choice does not depend on the other classes
    (removing forget-class samples from the data set changes nothing here). Only retain classes are indexed.
    """
    if per_class < 1:
        raise ConfigError("The retain subset needs at least 1 sample per class.")
    labels = train_y.cpu()
    chosen, checked = [], []
    for c in retain_classes:
        idx = (labels == c).nonzero().flatten()
        if per_class > len(idx):
            raise ConfigError(
                f"Asked for {per_class} retain samples per class, but class {c} has only {len(idx)} training "
                f"samples: use at most {len(idx)}, or the auto recipe (no preset), which sizes the subset itself."
            )
        g = torch.Generator().manual_seed(seed * 1_000_003 + int(c))
        order = idx[torch.randperm(len(idx), generator=g)]
        chosen.append(order[:per_class])
        checked.append(order[per_class : per_class + held_out])
    return torch.cat(chosen).sort().values, torch.cat(checked).sort().values


def sample_retain_subset(
    train_y: torch.Tensor, retain_classes: Sequence[int], per_class: int, seed: int
) -> torch.Tensor:
    """Indices [R] of `per_class` training samples of each retain class (the retain subset of `split_retain`)."""
    return split_retain(train_y, retain_classes, per_class, 0, seed)[0]


@dataclass(frozen=True)
class Probe:
    """A small fixed test subset evaluated during impair/repair for live forget/retain accuracy."""

    x: torch.Tensor  # [P, C, H, W] uint8 test images
    y: torch.Tensor  # [P] labels
    forget: tuple[int, ...]  # classes counted as forget set

    @classmethod
    def from_data(cls, data: ImageData, forget: Sequence[int], per_class: int = 50) -> Probe:
        idx = torch.cat([(data.test_y == c).nonzero().flatten()[:per_class] for c in range(data.num_classes)])
        return cls(data.test_x[idx], data.test_y[idx], tuple(forget))

    def measure(self, model: Classifier) -> dict[str, float]:
        ev = evaluation_of(predict_logits(model, self.x), self.y.to(model.device), self.forget)
        return {"forget_acc": ev.forget_acc, "retain_acc": ev.retain_acc}


def phase_pool(
    model: Classifier, retain_x: torch.Tensor, retain_y: torch.Tensor, noise: Noise | None, copies: int
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The data of one phase, prepared once: (x [R+M, C, S, S] float, y [R+M], pool size R + M*copies).

    Retain images are normalised once and the M noise samples stored once; the noise copies are
    virtual (index modulo M), so a step is a single gather with no host synchronisation.
    """
    xs, ys = [model.prepare(retain_x)], [retain_y]
    if noise is not None and copies > 0:
        xs.append(noise.images)
        ys.append(noise.labels)
    x = torch.cat(xs).contiguous(memory_format=memory_format(model.device))
    return x, torch.cat(ys), len(retain_x) + (len(x) - len(retain_x)) * copies


def run_phase(
    model: Classifier,
    phase: str,
    cfg: PhaseConfig,
    retain_x: torch.Tensor,
    retain_y: torch.Tensor,
    noise: Noise | None = None,
    copies: int = 0,
    generator: torch.Generator | None = None,
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    probe: Probe | None = None,
    monitor_every: int = 0,
    stop_after_epoch: Callable[[], bool] | None = None,
) -> list[float]:
    """Train `model.net` in place for `cfg.epochs` on the retain subset plus `copies` x the noise.

    `stop_after_epoch`, called after each epoch but the last, ends the phase early when it returns True.

    The learning rates stay constant (as in the paper) unless `cfg.anneal` > 0, which lowers them linearly
    to near 0 over that final fraction of the steps.

    retain_x: uint8 [R, C, H, W] and retain_y [R] on the model's device. Each epoch shuffles the
    pool (retain samples, then the noise repeated `copies` times) and steps through it in batches.
    """
    device = model.device
    x, y, pool = phase_pool(model, retain_x, retain_y, noise, copies)
    if pool == 0:
        raise ConfigError(f"The {phase} phase has no data: give it retain samples or noise.")
    n_retain, n_noise = len(retain_x), len(x) - len(retain_x)
    gen = generator or torch.Generator().manual_seed(0)
    freeze_prefixes(model.net, cfg.frozen)
    groups = param_groups(model.net, get_spec(model.info.arch).head, cfg.lr, cfg.head_lr)
    opt = make_optimizer(cfg.optimizer, groups, cfg.weight_decay)
    total = cfg.epochs * num_batches(pool, cfg.batch_size)
    sched = anneal_schedule(opt, total, cfg.anneal)
    reporter = Reporter(
        phase,
        total,
        progress,
        cancel,
        hint=f"Lower the {phase} learning rate (now {cfg.lr}{'' if cfg.head_lr is None else f', head {cfg.head_lr}'}).",
    )
    step = 0
    for epoch in range(cfg.epochs):
        if epoch and stop_after_epoch is not None and stop_after_epoch():
            break
        train_mode(model.net, cfg.batchnorm)  # again after a check: measuring restores plain train mode
        perm = torch.randperm(pool, generator=gen)  # drawn on the CPU for determinism across devices
        if n_noise:
            perm = torch.where(perm < n_retain, perm, n_retain + (perm - n_retain) % n_noise)
        perm = perm.to(device, non_blocking=True)
        for i in range(0, pool, cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            with autocast(device):
                logits = model.net(x[idx])
            loss = F.cross_entropy(logits.float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            live = None
            if probe is not None and monitor_every and (step % monitor_every == 0 or step == total):
                live = probe.measure(model)
                train_mode(model.net, cfg.batchnorm)
            reporter.step(step, loss, live)
    return reporter.finish()


def train_mode(net: torch.nn.Module, batchnorm: str) -> None:
    """Train mode, with BatchNorm's running statistics kept as they are when `batchnorm` is "fixed": a batch of
    noise then changes the weights it trains, not the statistics every later image is normalised with."""
    net.train()
    if batchnorm == "fixed":
        for m in net.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


@dataclass(frozen=True)
class UnlearnResult:
    model: Classifier  # after repair: the unlearned model (new; the input is untouched)
    impaired: Classifier | None  # after impair, before repair (when kept)
    noise: Noise | None  # the learned error-maximizing noise (random for that ablation; None without noise)
    forget: tuple[int, ...]  # classes forgotten in this request
    retain_indices: torch.Tensor  # [R] training indices of the retain subset that was read
    timings_s: dict[str, float]  # seconds per phase: noise, impair, repair, unlearn (their sum)
    losses: dict[str, list[float]]  # loss per step of impair and repair
    config: UnsirConfig
    device: str
    repair_outcome: RepairOutcome | None = None  # the self-check's verdict: epochs, held-out accuracy, degraded


def unlearn(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int | str],
    cfg: UnsirConfig = UnsirConfig(),
    device: str | torch.device | None = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
    keep_impaired: bool = True,
    monitor_every: int = 0,
) -> UnlearnResult:
    """Forget the classes `forget` (names or indices) from `model`; returns a new model.

    Works for sequential requests: classes already forgotten by `model` stay out of the retain subset.
    `monitor_every` > 0 measures forget/retain accuracy on a small test probe every that many steps
    (reported through `progress`, for live charts). `cfg.ablation` takes one part out (no noise, random noise, no
    impair, no repair), the rest unchanged; a part taken out takes no time and no step.
    """
    device = pick_device(device) if not isinstance(device, torch.device) else device
    model.info.check_fits(data)
    forget = data.forget_classes(forget, model.info.forgotten)
    gone = sorted(set(forget) | set(model.info.forgotten))
    retain_classes = [c for c in range(data.num_classes) if c not in gone]
    idx, held = split_retain(data.train_y, retain_classes, cfg.retain_per_class, cfg.check.val_per_class, cfg.seed)
    retain_x = data.train_x[idx.to(data.device)].to(device)  # the only training images trained on
    retain_y = data.train_y[idx.to(data.device)].to(device)
    held_x, held_y = data.train_x[held.to(data.device)].to(device), data.train_y[held.to(data.device)]  # checked only

    work = model.copy()
    work.net.to(device, memory_format=memory_format(device))
    for phase in (cfg.impair, cfg.repair):
        frozen_names(work.net, phase.frozen)  # a wrong layer name fails before any work
    gen = torch.Generator().manual_seed(cfg.seed)
    probe = Probe.from_data(data, gone) if monitor_every else None
    timings: dict[str, float] = {}

    def timed(name: str, fn):
        start = time.perf_counter()
        out = fn()
        synchronize(device)
        timings[name] = round(time.perf_counter() - start, 4)
        return out

    check = RepairCheck(work, held_x, held_y, cfg)  # the original's accuracy on the held-out images
    freeze(work)
    noise = timed("noise", lambda: make_noise(work, forget, cfg, gen, progress, cancel))
    work.net.requires_grad_(True)
    impair_losses = timed(
        "impair",
        lambda: (
            []
            if cfg.ablation == "no-impair"
            else run_phase(
                work,
                "impair",
                cfg.impair,
                retain_x,
                retain_y,
                noise,
                cfg.noise_copies,
                gen,
                progress,
                cancel,
                probe,
                monitor_every,
            )
        ),
    )
    impaired = work.copy() if keep_impaired else None
    repair_losses, outcome = timed(
        "repair",
        lambda: (
            unrepaired(work, check)
            if cfg.ablation == "no-repair"
            else repair(work, cfg, retain_x, retain_y, gen, check, progress, cancel, probe, monitor_every)
        ),
    )
    timings["unlearn"] = round(timings["noise"] + timings["impair"] + timings["repair"], 4)
    work.net.requires_grad_(True)  # a result model is fully trainable, whatever the phases froze
    work.net.eval()
    details = {
        "unsir_config": cfg.to_dict(),
        "parent": model.info.origin,
        "forget_request": forget,
        "parent_test_acc": model.info.test_acc,
    }
    if "train_config" in model.info.details:  # the original's training, inherited: a later gold standard for this
        details["train_config"] = model.info.details["train_config"]  # model is retrained at full strength
    info = replace(model.info, forgotten=tuple(gone), origin="unlearned", test_acc=None, details=details)
    final = Classifier(work.net, info)
    if impaired is not None:
        impaired.net.eval()
        impaired = Classifier(impaired.net, replace(info, details={**details, "stage": "impair"}))
    return UnlearnResult(
        final,
        impaired,
        noise,
        tuple(forget),
        idx,
        timings,
        {"impair": impair_losses, "repair": repair_losses},
        cfg,
        str(device),
        outcome,
    )


def make_noise(
    work: Classifier,
    forget: Sequence[int],
    cfg: UnsirConfig,
    gen: torch.Generator,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
) -> Noise | None:
    """The impair phase's noise: learned (UNSIR), drawn and left unoptimised, or none, as `cfg.ablation` says."""
    if cfg.ablation == "no-noise":
        return None
    if cfg.ablation == "random-noise":
        return random_noise(work, forget, cfg.noise, gen)
    return optimize_noise(work, forget, cfg.noise, gen, progress, cancel)


def unrepaired(work: Classifier, check: RepairCheck) -> tuple[list[float], RepairOutcome]:
    """The "no repair" ablation: no step taken; the check measures the impaired model, so a damaged one is
    marked degraded like any other result."""
    if check.enabled:
        check.done(work)
    return [], check.outcome(0, 0)


def repair(
    work: Classifier,
    cfg: UnsirConfig,
    retain_x: torch.Tensor,
    retain_y: torch.Tensor,
    gen: torch.Generator,
    check: RepairCheck,
    progress: ProgressFn | None,
    cancel: CancelToken | None,
    probe: Probe | None,
    monitor_every: int,
) -> tuple[list[float], RepairOutcome]:
    """Repair on the retain subset, checking the held-out retain images after each epoch: stop once the target
    is reached; past the planned epochs add up to `cfg.check.extra_epochs` more at half the rates."""
    start = time.perf_counter()

    def done() -> bool:
        check.done(work)
        emit(
            progress,
            "check",
            len(check.history),
            cfg.repair.epochs + cfg.check.extra_epochs,
            start,
            check_acc=check.history[-1],
            check_original=check.original_acc,
        )
        return check.reached

    monitor = (probe, monitor_every)
    losses = run_phase(
        work,
        "repair",
        cfg.repair,
        retain_x,
        retain_y,
        None,
        0,
        gen,
        progress,
        cancel,
        *monitor,
        stop_after_epoch=done if check.enabled else None,
    )
    if check.enabled and not check.reached:
        done()  # the last planned epoch
    extra = 0
    half = replace(
        cfg.repair,
        epochs=1,
        lr=cfg.repair.lr / 2,
        head_lr=None if cfg.repair.head_lr is None else cfg.repair.head_lr / 2,
    )
    while check.enabled and not check.reached and extra < cfg.check.extra_epochs:
        extra += 1
        losses += run_phase(work, "repair+", half, retain_x, retain_y, None, 0, gen, progress, cancel, *monitor)
        done()
    epochs = len(check.history) if check.enabled else cfg.repair.epochs
    return losses, check.outcome(epochs, extra)
