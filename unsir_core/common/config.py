"""Hyperparameters of UNSIR and of training, as frozen, documented dataclasses.

Defaults are the paper's CIFAR-10 settings (Tarun et al., "Fast Yet Effective Machine Unlearning",
and the authors' notebook). Settings derived from the data and the model live in `recipe.py`; named
presets in `presets.py`. Every numeric setting carries its help text and valid range in the field's
metadata (`setting(...)`): `UnsirConfig` refuses a value outside it before any work is done, and the
dashboard and the docs read the same metadata.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass, replace
from typing import Any

from unsir_core.common.errors import ConfigError


def setting(
    default: Any,
    help: str,
    lo: float | None = None,
    hi: float | None = None,
    *,
    choices: tuple[str, ...] = (),
    low_open: bool = False,
    short: str = "",
) -> Any:
    """A dataclass field with its help text and valid range [lo, hi] ((lo, hi] when `low_open`) as metadata;
    `short` names it in flags instead of the field name (`noise.batch_size` -> `--noise-batch`)."""
    return field(
        default=default,
        metadata={"help": help, "min": lo, "max": hi, "choices": choices, "low_open": low_open, "short": short},
    )


def _fmt(value: float) -> str:
    return f"{value:,}" if isinstance(value, int) else f"{value:g}"


def check_value(name: str, value: Any, meta: dict[str, Any], kind: type = float) -> None:
    """Raise ConfigError naming `name` unless `value` is in the range of `meta` (a field's metadata, or
    `setting_info`'s answer): for inputs that are checked like settings without being one (a flag, a width)."""
    lo, hi, choices = meta.get("min"), meta.get("max"), meta.get("choices")
    if choices:
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)}, not {value!r}.")
        return
    if lo is None and hi is None:
        return
    if value is None:
        if meta.get("optional"):
            return
        raise ConfigError(f"{name} needs a value ({meta['help']}).")
    number_ok = isinstance(value, int) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not number_ok or not math.isfinite(value):
        what = "a whole number" if kind is int else "a finite number"
        raise ConfigError(f"{name} must be {what} from {_fmt(lo)} to {_fmt(hi)}, not {value!r}.")
    below = value <= lo if meta.get("low_open") else value < lo
    if below or value > hi:
        low = f"above {_fmt(lo)}" if meta.get("low_open") else f"from {_fmt(lo)}"
        raise ConfigError(
            f"{name} = {_fmt(value)} is out of range: give a value {low} up to {_fmt(hi)} ({meta['help']})."
        )


def validate(obj: Any, prefix: str = "") -> None:
    """Raise ConfigError naming the first setting of `obj` (dotted, e.g. "impair.lr") that is out of range."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if hasattr(value, "__dataclass_fields__"):
            validate(value, f"{prefix}{f.name}.")
        elif f.metadata:
            hint = getattr(f.type, "__name__", str(f.type))  # "int", "float | None", ...
            kind = int if hint.split("|")[0].strip() == "int" else float
            check_value(prefix + f.name, value, {**f.metadata, "optional": "None" in str(f.type)}, kind)


def setting_info(name: str, config: type | None = None) -> dict[str, Any]:
    """Help text and range of a setting of `config` (default UnsirConfig) by dotted name ("impair.lr"), from its
    field metadata."""
    cls: Any = config or UnsirConfig
    for part in name.split("."):
        found = {f.name: f for f in fields(cls)}.get(part)
        if found is None:
            raise ConfigError(f"Unknown setting {name!r}.")
        cls = found.default_factory() if callable(found.default_factory) else found  # nested config or leaf
    return {
        "help": found.metadata["help"],
        "min": found.metadata["min"],
        "max": found.metadata["max"],
        "low_open": found.metadata["low_open"],
    }


MAX_SEED = 2**31 - 1  # numpy and every torch generator accept it
LR_MAX = 1.0  # paper Table 5: impair lr 1 already wrecks the retain classes; above it nothing useful happens


@dataclass(frozen=True)
class NoiseConfig:
    """Error-maximizing noise: maximise CE of the frozen model on N while keeping N small."""

    batch_size: int = setting(256, "noise samples learned per forget class (paper: 256)", 1, 4096, short="batch")
    steps: int = setting(40, "Adam steps on the noise pixels (authors' notebook: 5 epochs x 8 steps)", 1, 5000)
    lr: float = setting(0.1, "Adam learning rate on the noise pixels (paper: 0.1)", 0, 10, low_open=True)
    l2_weight: float = setting(
        0.1,
        "lambda in -CE(f(N), y) + lambda * mean_b(sum_chw N^2); larger keeps the noise smaller (paper: 0.1, Table 9)",
        0,
        100,
        short="l2",
    )
    init_std: float = setting(1.0, "N ~ Normal(0, init_std) in normalised input space", 0, 100, low_open=True)


BATCHNORM_MODES = ("train", "fixed")  # PhaseConfig.batchnorm

# UNSIR with one part taken out, the same recipe otherwise (UnsirConfig.ablation): what each part contributes.
ABLATIONS = {
    "none": "UNSIR as it is: noise, impair, repair",
    "no-noise": "without noise: impair on the retain subset only",
    "random-noise": "with random noise: the noise drawn as at the start and never optimised",
    "no-impair": "without impair: noise learned, then repair only",
    "no-repair": "without repair: the model as impair leaves it",
}


@dataclass(frozen=True)
class PhaseConfig:
    """One optimisation phase (impair or repair): optimiser, learning rates and length."""

    lr: float = setting(
        0.01, "learning rate of the body, every parameter not in the classifier head", 0, LR_MAX, low_open=True
    )
    epochs: int = setting(1, "passes over the phase's data (paper: 1 impair, 1 repair)", 1, 100)
    batch_size: int = setting(256, "samples per step (paper: 256)", 1, 8192)
    head_lr: float | None = setting(
        None, "learning rate of the classifier head; None means the body's", 0, LR_MAX, low_open=True
    )
    optimizer: str = setting("adam", "optimizer: adam (paper) or sgd (momentum 0.9)", choices=("adam", "sgd"))
    weight_decay: float = setting(0.0, "L2 penalty of the optimiser (paper: none)", 0, 1)
    frozen: tuple[str, ...] = ()  # parameter-name prefixes not trained in this phase (lr 0; backward skipped)
    anneal: float = setting(
        0.0, "final fraction of the steps over which the learning rates fall linearly to 0 (paper: 0, constant)", 0, 1
    )
    batchnorm: str = setting(
        "train",
        "BatchNorm's running statistics in this phase: train (they follow the batches, the paper's) or fixed (the "
        "original's are kept, so noise in the batches cannot pollute them)",
        choices=BATCHNORM_MODES,
    )

    def __post_init__(self):  # JSON and URLs give lists; keep the config hashable and comparable
        object.__setattr__(self, "frozen", tuple(self.frozen))


@dataclass(frozen=True)
class CheckConfig:
    """The repair that checks itself, and the collapse guard. Zero-glance: it holds out retain-class training
    images only (never in the retain subset, never a forget-class image) and compares the model's accuracy there
    with the original model's on the same images."""

    val_per_class: int = setting(
        50, "held-out retain-class training images per class for the check (0: no check, no guard)", 0, 10_000
    )
    target: float = setting(
        0.98, "repair stops early once the validation accuracy is back to this fraction of the original's", 0, 1.5
    )
    extra_epochs: int = setting(2, "repair epochs added at most, at half the rates, while below the target", 0, 20)
    guard: float = setting(
        0.85,
        "below this fraction of the original's validation accuracy after repair, the result is marked degraded",
        0,
        1,
    )


@dataclass(frozen=True)
class UnsirConfig:
    """The whole UNSIR recipe: noise, then impair on noise + retain subset, then repair."""

    noise: NoiseConfig = field(default_factory=NoiseConfig)  # error-maximizing noise settings
    impair: PhaseConfig = field(default_factory=lambda: PhaseConfig(lr=0.02))  # paper CIFAR-10: Adam 0.02
    repair: PhaseConfig = field(default_factory=lambda: PhaseConfig(lr=0.01))  # paper CIFAR-10: Adam 0.01
    noise_copies: int = setting(20, "how often the noise batch is repeated in the impair data (paper: 20)", 1, 1000)
    retain_per_class: int = setting(1000, "retain subset size per retain class (paper CIFAR-10: 1000)", 1, 100_000)
    seed: int = setting(0, "seeds the noise, the retain subset and the shuffling", 0, MAX_SEED)
    check: CheckConfig = field(default_factory=CheckConfig)  # self-checking repair and collapse guard
    ablation: str = setting(
        "none",
        "take one part of UNSIR out, the rest unchanged, to see what it contributes: none, no-noise (impair on "
        "the retain subset only), random-noise (unoptimised), no-impair or no-repair",
        choices=tuple(ABLATIONS),
    )

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UnsirConfig:
        """Inverse of `to_dict`; unknown keys are an error so that typos do not pass silently."""
        d = dict(d)
        parts = {
            name: kind(**d.pop(name))
            for name, kind in (
                ("noise", NoiseConfig),
                ("impair", PhaseConfig),
                ("repair", PhaseConfig),
                ("check", CheckConfig),
            )
            if name in d
        }
        try:
            return cls(**parts, **d)
        except TypeError as err:
            raise ConfigError(f"Unknown UNSIR setting: {err}.") from None

    def with_overrides(self, **overrides: Any) -> UnsirConfig:
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
        try:
            for part, changes in nested.items():
                top[part] = replace(getattr(self, part), **changes)
            return replace(self, **top)
        except (TypeError, AttributeError) as err:
            raise ConfigError(f"Unknown UNSIR setting in {', '.join(overrides)} ({err}).") from None


@dataclass(frozen=True)
class TrainConfig:
    """Training an original model (all classes) or the retrained gold standard (retain classes)."""

    # epochs: Shapes-10 Small CNN reaches 88% at 25, see README
    epochs: int = setting(40, "passes over the training set", 1, 500)
    batch_size: int = setting(128, "training images per step", 1, 8192)
    lr: float = setting(4e-3, "peak learning rate of the one-cycle schedule", 0, LR_MAX, low_open=True)
    optimizer: str = setting("adam", "optimizer: adam, or sgd (momentum 0.9, nesterov)", choices=("adam", "sgd"))
    weight_decay: float = setting(5e-4, "weight decay: decoupled for adam (AdamW), L2 for sgd", 0, 1)
    label_smoothing: float = setting(0.0, "cross-entropy label smoothing", 0, 1)
    augment: bool = True  # random flip and 4-pixel random crop, done on the device
    seed: int = setting(0, "seeds initialisation, shuffling and augmentation", 0, MAX_SEED)
    pretrained: bool = False  # start from the architecture's ImageNet weights (needs network once)
    # input_size: None keeps the architecture's (32 px); a conv net also takes a data set's native side (28 px for
    # Fashion-MNIST: 23% fewer operations than resizing to 32), within the range its spec accepts
    input_size: int | None = setting(None, "image side the model sees, in pixels (default: the architecture's)", 8, 512)

    def __post_init__(self):
        validate(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- the settings vocabulary: every UNSIR setting by dotted name, as CLI flags, sweeps, methods, links and knobs
# read it (scikit-learn's get_params/set_params idea). Adding a setting is adding one field above.

TUNING = (
    "retain_per_class",
    "noise_copies",
    "noise.batch_size",
    "noise.steps",
    "noise.lr",
    "noise.l2_weight",
    "impair.lr",
    "impair.epochs",
    "repair.lr",
    "repair.epochs",
)  # the most sensitive: CLI flags, method fields


def config_value(config: UnsirConfig, name: str) -> Any:
    """A setting of `config` by dotted name ("impair.lr"); ConfigError naming the settings if unknown."""
    value: Any = config
    for part in name.split("."):
        if not is_dataclass(value) or part not in {f.name for f in fields(value)}:
            raise ConfigError(f"Unknown setting {name!r}. Sweepable settings: {', '.join(scalar_settings(config))}.")
        value = getattr(value, part)
    if is_dataclass(value) or isinstance(value, tuple):
        raise ConfigError(
            f"{name!r} is not a single number or word; sweep one of: {', '.join(scalar_settings(config))}."
        )
    return value


def scalar_settings(config: UnsirConfig | None = None) -> list[str]:
    """Dotted names of every scalar UNSIR setting but the seed (a sweep varies it with `seeds`, not here)."""
    config = config or UnsirConfig()
    names = []
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            names += [f"{f.name}.{g.name}" for g in fields(value) if not isinstance(getattr(value, g.name), tuple)]
        elif f.name != "seed":
            names.append(f.name)
    return names


def numeric_settings() -> dict[str, type]:
    """Every number-valued UNSIR setting (seed included) -> int or float: what a link or a lineage may set."""
    config = UnsirConfig()
    out = {name: type(config_value(config, name)) for name in ["seed", *scalar_settings(config)]}
    return {name: kind for name, kind in out.items() if kind in (int, float)}


def flag(name: str) -> str:
    """The command-line flag of a setting: "impair.lr" -> "--impair-lr", "noise.batch_size" -> "--noise-batch"."""
    cls: Any = UnsirConfig
    parts = name.split(".")
    for part in parts[:-1]:
        found = {f.name: f for f in fields(cls)}[part]
        cls = type(found.default_factory()) if callable(found.default_factory) else found.type
    leaf = {f.name: f for f in fields(cls)}[parts[-1]]
    words = [*parts[:-1], leaf.metadata.get("short") or parts[-1]]
    return "--" + "-".join(words).replace("_", "-")


def parse_setting(name: str, text: Any, current: Any) -> Any:
    """One value for setting `name` from text, as the type of its `current` value (a float where it is None)."""
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
        kind = (
            "a whole number"
            if isinstance(current, int) and not isinstance(current, bool)
            else "true or false"
            if isinstance(current, bool)
            else "a number"
        )
        raise ConfigError(f"{name} takes {kind}, not {text!r}.") from None
    return text
