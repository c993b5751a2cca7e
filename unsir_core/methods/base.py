"""The interface every unlearning method implements, and the pieces they share.

A method is a stateless object with a frozen, documented `Settings` dataclass and one hook,
`unlearn(model, ctx, settings) -> Classifier`. `UnlearningMethod.run` is the template around it:
it validates the request, seeds a private random state, times the hook, and wraps the answer in a
`MethodResult`. The hook reads training data only through `Context`, which records whether any
forget-class training image was read (UNSIR, fine-tune and retrain never do; the others must).

Rules for a hook: never modify `model` (work on `ctx.working_copy(model)`), run every optimisation
loop through `ctx.optimise` (progress, cancel, NaN -> DivergedError), and return a new Classifier.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from unsir_core.algorithm.unlearn import sample_retain_subset
from unsir_core.common.batches import num_batches
from unsir_core.common.device import autocast, memory_format, pick_device, synchronize
from unsir_core.common.errors import ConfigError
from unsir_core.common.optim import make_optimizer
from unsir_core.common.progress import CancelToken, ProgressFn, Reporter
from unsir_core.data import ImageData
from unsir_core.methods.settings import SettingField, make_settings, setting_fields
from unsir_core.models.classifier import Classifier, ModelInfo


@dataclass(frozen=True)
class Workload:
    """The sizes a method's cost depends on, for estimating its time before it runs."""

    retain_classes: int  # classes kept
    retain_per_class: int  # training images of the smallest retain class
    forget_classes: int  # classes of this request
    forget_images: int  # training images of the forget classes of this request


@dataclass(frozen=True)
class Request:
    """What a method will be asked to do, before it runs: for its time estimate and the values it will use."""

    original: ModelInfo  # the model to unlearn
    data: ImageData  # the data set
    forget: tuple[int, ...]  # classes of this request

    def workload(self) -> Workload:
        gone = set(self.forget) | set(self.original.forgotten)
        keep = [c for c in range(self.data.num_classes) if c not in gone]
        counts = self.data.train_y.bincount(minlength=self.data.num_classes).tolist()
        return Workload(len(keep), min(counts[c] for c in keep), len(self.forget), sum(counts[c] for c in self.forget))


def pool_size(requested: int | None, available: int) -> int:
    """How many of `available` images a `0 = all` style setting takes."""
    return min(requested, available) if requested else available


# ------------------------------------------------------------------ what a hook may read


class Context:
    """Data access and the shared training loop for one method run.

    Everything is on `device`. `read_forget` becomes True the moment a forget-class training image
    is handed out (`forget_train`); the result reports it.
    """

    def __init__(
        self,
        method: str,
        data: ImageData,
        forget: Sequence[int],
        gone: Sequence[int],
        device: torch.device,
        progress: ProgressFn | None,
        cancel: CancelToken | None,
        seed: int,
    ):
        self.method, self.data, self.device = method, data, device
        self.forget = tuple(forget)  # classes of this request
        self.gone = tuple(gone)  # classes of this request plus those the model had already forgotten
        self.retain_classes = tuple(c for c in range(data.num_classes) if c not in self.gone)
        self.progress, self.cancel, self.seed = progress, cancel, seed
        self.generator = torch.Generator().manual_seed(seed)  # CPU generator: shuffles and draws
        self.read_forget = False
        self.losses: dict[str, list[float]] = {}
        self.details: dict[str, Any] = {}

    # --- data
    def retain_train(self, per_class: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to `per_class` training images of each retain class (None or 0: all of them); seeded per class."""
        y = self.data.train_y
        if per_class:
            smallest = min(int((y == c).sum()) for c in self.retain_classes)
            idx = sample_retain_subset(y, self.retain_classes, min(per_class, smallest), self.seed)
        else:
            idx = (~self.data.class_mask(y, self.gone)).nonzero().flatten().cpu()
        if len(idx) == 0:
            raise ConfigError(f"{self.data.name} has no training images of the retain classes.")
        idx = idx.to(self.data.device)
        self.details["retain_samples"] = len(idx)
        return self.data.train_x[idx].to(self.device), self.data.train_y[idx].to(self.device)

    def forget_train(self, max_samples: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Training images of the forget classes (up to `max_samples`, at random). Marks the run as reading them."""
        self.read_forget = True
        idx = self.data.class_mask(self.data.train_y, self.forget).nonzero().flatten().cpu()
        if max_samples:
            idx = idx[torch.randperm(len(idx), generator=self.generator)[:max_samples]].sort().values
        if len(idx) == 0:
            raise ConfigError(
                f"{self.method} needs forget-class training images, but {self.data.name} has none of classes "
                f"{list(self.forget)}."
            )
        idx = idx.to(self.data.device)
        self.details["forget_samples"] = len(idx)
        return self.data.train_x[idx].to(self.device), self.data.train_y[idx].to(self.device)

    def random_retain_labels(self, y: torch.Tensor) -> torch.Tensor:
        """A random retain class for each label in y [N] (always a wrong label: y is a forget class)."""
        choices = torch.as_tensor(self.retain_classes)
        pick = torch.randint(0, len(choices), (len(y),), generator=self.generator)
        return choices[pick].to(y.device)

    # --- models
    def working_copy(self, model: Classifier) -> Classifier:
        """A trainable copy of `model` on the device (the input is never touched)."""
        work = model.copy()
        work.net.to(self.device, memory_format=memory_format(self.device)).requires_grad_(True)
        work.net.train()
        return work

    def frozen_copy(self, model: Classifier) -> Classifier:
        """An eval-mode copy without gradients, e.g. a teacher."""
        frozen = model.copy()
        frozen.net.to(self.device, memory_format=memory_format(self.device)).requires_grad_(False)
        frozen.net.eval()
        return frozen

    def random_model(self, model: Classifier) -> Classifier:
        """A freshly initialised, frozen network of `model`'s architecture (seeded)."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + 1)
            fresh = Classifier.create(model.info)
        fresh.net.to(self.device, memory_format=memory_format(self.device)).requires_grad_(False)
        fresh.net.eval()
        return fresh

    # --- batches and the loop
    def batches(self, n: int, batch_size: int) -> Iterator[torch.Tensor]:
        """Endless shuffled index batches over range(n), reshuffled after each pass (seeded)."""
        if n == 0:
            raise ConfigError(f"{self.method} got no samples to train on.")
        while True:
            perm = torch.randperm(n, generator=self.generator).to(self.device)
            for i in range(0, n, batch_size):
                yield perm[i : i + batch_size]

    def steps(self, n: int, batch_size: int, epochs: int) -> int:
        """Optimiser steps for `epochs` passes over n samples."""
        if epochs < 1 or batch_size < 1:
            raise ConfigError(f"{self.method}: epochs and batch size must be at least 1.")
        return epochs * num_batches(n, batch_size)

    def optimiser(self, work: Classifier, lr: float, optimizer: str = "adam", params=None) -> torch.optim.Optimizer:
        if not lr > 0:
            raise ConfigError(f"{self.method}: the learning rate must be positive, got {lr}.")
        params = list(work.net.parameters()) if params is None else list(params)
        return make_optimizer(optimizer, [{"params": params, "lr": lr}])

    def optimise(
        self,
        work: Classifier,
        phase: str,
        steps: int,
        loss_fn: Callable[[int], torch.Tensor],
        opt: torch.optim.Optimizer,
        hint: str,
        before_step: Callable[[], None] | None = None,
    ) -> list[float]:
        """`steps` optimiser steps on `work` (train mode): loss_fn(step) -> loss, backward, step.

        Progress and cancel go through `Reporter`; a NaN/inf loss raises DivergedError naming the
        step and `hint`. `before_step` may edit gradients (e.g. SalUn's mask).
        """
        reporter = Reporter(phase, steps, self.progress, self.cancel, hint)
        work.net.train()
        for step in range(1, steps + 1):
            loss = loss_fn(step)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if before_step is not None:
                before_step()
            opt.step()
            reporter.step(step, loss.detach())
        history = reporter.finish()
        self.losses[phase] = [round(v, 5) for v in history]
        return history

    def logits(self, model: Classifier, x: torch.Tensor) -> torch.Tensor:
        """float32 logits [B, K] of uint8 images x [B, C, H, W], in the model's current mode."""
        inputs = model.prepare(x).contiguous(memory_format=memory_format(self.device))
        with autocast(self.device):
            return model.net(inputs).float()


def kl_to(student_logits: torch.Tensor, teacher_probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(teacher || student) per batch at temperature T (scaled by T^2, as in distillation)."""
    log_p = F.log_softmax(student_logits / temperature, dim=1)
    return F.kl_div(log_p, teacher_probs, reduction="batchmean") * temperature**2


# ------------------------------------------------------------------ the method template


@dataclass(frozen=True)
class MethodResult:
    method: str  # registry key
    model: Classifier  # the unlearned model (new; the input is untouched), eval mode, on the device
    settings: Any  # the settings dataclass that was used
    read_forget: bool  # True when forget-class training images were read
    wall_s: float  # seconds spent in the method (device synchronised)
    losses: dict[str, list[float]] = field(default_factory=dict)  # loss per step of each phase
    details: dict[str, Any] = field(default_factory=dict)  # samples read, timings of sub-phases, ...


class UnlearningMethod:
    """Base class: subclasses set the class attributes and implement `unlearn`."""

    name: ClassVar[str]  # registry key (CLI, URLs, tables)
    title: ClassVar[str]  # shown in tables and the UI
    summary: ClassVar[str]  # one sentence: what it does
    paper: ClassVar[str]  # where the recipe comes from
    reads_forget: ClassVar[bool]  # whether it reads forget-class training images (declared; checked by tests)
    Settings: ClassVar[type]  # frozen dataclass of documented defaults; must have a `seed` field

    def settings(self, overrides: Mapping[str, Any] | Any | None = None) -> Any:
        return make_settings(self.Settings, overrides, self.name)

    def fields(self) -> list[SettingField]:
        return setting_fields(self.Settings)

    def planned_images(self, s: Any, req: Request) -> float:
        """Training images (forward + backward) the method processes with settings `s`: by default `epochs`
        passes over its `forget_samples` and `retain_per_class` pools; methods that differ override it."""
        w = req.workload()
        pool = 0
        if hasattr(s, "forget_samples"):
            pool += pool_size(s.forget_samples, w.forget_images)
        if hasattr(s, "retain_per_class"):
            pool += pool_size(s.retain_per_class, w.retain_per_class) * w.retain_classes
        return getattr(s, "epochs", 1) * pool

    def resolved(self, s: Any, req: Request) -> dict[str, Any]:
        """The value of every setting that actually runs on this request (fields left empty resolved)."""
        return asdict(s)

    def check(self, model: Classifier, data: ImageData) -> None:
        """Raise ConfigError when this method cannot run on `model` (default: the model must fit the data)."""
        model.info.check_fits(data)

    def unlearn(self, model: Classifier, ctx: Context, s: Any) -> Classifier:  # pragma: no cover - interface
        raise NotImplementedError

    def run(
        self,
        model: Classifier,
        data: ImageData,
        forget: Sequence[int | str],
        settings: Any = None,
        device: str | torch.device | None = "auto",
        progress: ProgressFn | None = None,
        cancel: CancelToken | None = None,
    ) -> MethodResult:
        """Forget `forget` (names or indices) from `model` with these settings; returns a new model."""
        s = self.settings(settings)
        device = pick_device(device) if not isinstance(device, torch.device) else device
        self.check(model, data)
        forget = data.forget_classes(forget, model.info.forgotten)
        gone = tuple(sorted(set(forget) | set(model.info.forgotten)))
        data = data.to(device)
        ctx = Context(self.name, data, forget, gone, device, progress, cancel, s.seed)
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(s.seed)  # dropout and anything else drawing from the global generator
            out = self.unlearn(model, ctx, s)
        synchronize(device)
        wall = time.perf_counter() - start
        out.net.to(device).eval()
        details = {
            "method": self.name,
            "settings": asdict(s),
            "parent": model.info.origin,
            "forget_request": list(forget),
            "parent_test_acc": model.info.test_acc,
            **ctx.details,
        }
        info = replace(
            model.info,
            forgotten=gone,
            origin="retrained" if self.name == "retrain" else "unlearned",
            test_acc=out.info.test_acc if self.name == "retrain" else None,
            details=details,
        )
        return MethodResult(
            self.name, Classifier(out.net, info), s, ctx.read_forget, round(wall, 4), ctx.losses, ctx.details
        )
