"""Hyperparameters of UNSIR and of training, as frozen, documented dataclasses.

Defaults are the paper's CIFAR-10 settings (Tarun et al., "Fast Yet Effective Machine Unlearning",
and the authors' notebook). Tuned settings per data set and model live in `presets.py` as data.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .errors import ConfigError


@dataclass(frozen=True)
class NoiseConfig:
    """Error-maximizing noise: maximise CE of the frozen model on N while keeping N small."""

    batch_size: int = 256  # noise samples per forget class (paper/notebook B)
    steps: int = 40  # Adam steps on the noise (notebook: 5 epochs x 8 steps)
    lr: float = 0.1  # Adam learning rate on the noise pixels
    l2_weight: float = 0.1  # lambda in -CE(f(N), y) + lambda * mean_b(sum_chw N^2); paper Table 9
    init_std: float = 1.0  # N ~ Normal(0, init_std) in normalised input space


@dataclass(frozen=True)
class PhaseConfig:
    """One optimisation phase (impair or repair): optimiser, learning rates and length."""

    lr: float  # learning rate of the body (every parameter not in the head)
    epochs: int = 1  # passes over the phase's data (paper: 1 impair, 1 repair)
    batch_size: int = 256  # samples per step (paper: 256)
    head_lr: float | None = None  # learning rate of the classifier head; None means `lr`
    optimizer: str = "adam"  # "adam" (paper) or "sgd" (momentum 0.9)
    weight_decay: float = 0.0  # L2 penalty of the optimiser (paper: none)
    frozen: tuple[str, ...] = ()  # parameter-name prefixes not trained in this phase (lr 0; backward skipped)
    anneal: float = 0.0  # final fraction of the steps over which the lrs fall linearly to 0 (paper: 0, constant)

    def __post_init__(self):  # JSON and URLs give lists; keep the config hashable and comparable
        object.__setattr__(self, "frozen", tuple(self.frozen))
        if not 0.0 <= self.anneal <= 1.0:
            raise ConfigError(f"anneal is the fraction of a phase's steps over which the learning rate falls to 0: "
                              f"give a number from 0 to 1, not {self.anneal}.")


@dataclass(frozen=True)
class UnsirConfig:
    """The whole UNSIR recipe: noise, then impair on noise + retain subset, then repair."""

    noise: NoiseConfig = field(default_factory=NoiseConfig)  # error-maximizing noise settings
    impair: PhaseConfig = field(default_factory=lambda: PhaseConfig(lr=0.02))  # paper CIFAR-10: Adam 0.02
    repair: PhaseConfig = field(default_factory=lambda: PhaseConfig(lr=0.01))  # paper CIFAR-10: Adam 0.01
    noise_copies: int = 20  # how often the noise batch is repeated in the impair data (paper: 20)
    retain_per_class: int = 1000  # retain subset size per retain class (paper CIFAR-10: 1000)
    seed: int = 0  # seeds the noise, the retain subset and the shuffling

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "UnsirConfig":
        """Inverse of `to_dict`; unknown keys are an error so that typos do not pass silently."""
        d = dict(d)
        noise = NoiseConfig(**d.pop("noise", {}))
        impair = PhaseConfig(**d.pop("impair")) if "impair" in d else cls().impair
        repair = PhaseConfig(**d.pop("repair")) if "repair" in d else cls().repair
        return cls(noise=noise, impair=impair, repair=repair, **d)

    def with_overrides(self, **overrides: Any) -> "UnsirConfig":
        """Replace fields by dotted names, e.g. `with_overrides(**{"impair.lr": 0.01, "seed": 3})`."""
        top: dict[str, Any] = {}
        nested: dict[str, dict[str, Any]] = {}
        for key, value in overrides.items():
            if value is None:
                continue
            if "." in key:
                part, name = key.split(".", 1)
                nested.setdefault(part, {})[name] = value
            else:
                top[key] = value
        for part, fields in nested.items():
            top[part] = replace(getattr(self, part), **fields)
        return replace(self, **top)


@dataclass(frozen=True)
class TrainConfig:
    """Training an original model (all classes) or the retrained gold standard (retain classes)."""

    epochs: int = 40  # passes over the training set (Shapes-10 Small CNN: 88% at 25, see README)
    batch_size: int = 128  # samples per step
    lr: float = 4e-3  # peak learning rate of the one-cycle schedule
    optimizer: str = "adam"  # "adam" or "sgd" (momentum 0.9, nesterov)
    weight_decay: float = 5e-4  # decoupled for adam (AdamW), L2 for sgd
    label_smoothing: float = 0.0  # cross-entropy label smoothing
    augment: bool = True  # random flip and 4-pixel random crop, done on the device
    seed: int = 0  # seeds initialisation, shuffling and augmentation
    pretrained: bool = False  # start from the architecture's ImageNet weights (needs network once)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
