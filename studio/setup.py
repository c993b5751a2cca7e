"""The setup a user builds in the dashboard (data set, model, forget classes, UNSIR settings) and its URL form.

A `Setup` is a frozen value: pages never edit it in place, they derive a new one with `with_value`.
`to_query` / `from_query` turn it into URL query parameters and back, so a link reproduces a setup.
Hyperparameters appear in the URL only where the user changed them, which keeps links short; the preset
("auto" by default: the recipe derived from the data and the model) gives the rest.
A sequential request carries its earlier requests in `chain` (URL format: `unsir_core.report.share`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from unsir_core.algorithm.presets import PRESETS
from unsir_core.checkpoints import roots
from unsir_core.common.config import TrainConfig, UnsirConfig, check_value, config_value, setting_info
from unsir_core.common.errors import ConfigError, UnsirError
from unsir_core.data import DATASETS, DEFAULT_DATASET
from unsir_core.models import DEFAULT_MODEL, MODELS
from unsir_core.report.share import STEP_SEP, decode_step, encode_step


@dataclass(frozen=True)
class Knob:
    """One numeric UNSIR setting as a widget: its label, step and what the UI adds to the setting's own help.

    The help text and the valid range come from the config's field metadata (`unsir_core.common.config.setting`), the
    same range the engine enforces, so a URL or a widget can never hold a value a run would refuse."""

    name: str  # dotted config name, e.g. "impair.lr"
    label: str  # widget label
    step: float  # widget step
    more: str = ""  # UI-only help after the setting's own

    @property
    def info(self) -> dict[str, Any]:
        return setting_info(self.name)

    @property
    def help(self) -> str:
        own = self.info["help"]
        return f"{own[0].upper()}{own[1:]}." + (f" {self.more}" if self.more else "")

    @property
    def min(self) -> float:
        return widget_range(self.info)[0]

    @property
    def max(self) -> float:
        return widget_range(self.info)[1]


SMALLEST = 1e-7  # the widget minimum of a setting that must be above 0 (learning rates)


def widget_range(info: Mapping[str, Any]) -> tuple[Any, Any]:
    """A widget's (min, max) for a setting's range (`setting_info`): the engine's own, SMALLEST for above 0."""
    return SMALLEST if info["low_open"] else info["min"], info["max"]


def train_range(name: str) -> tuple[Any, Any]:
    """The widget range of a training setting (`TrainConfig`), e.g. "epochs"."""
    return widget_range(setting_info(name, TrainConfig))


KNOBS: dict[str, Knob] = {
    k.name: k
    for k in (
        Knob("seed", "Seed", 1, "The same seed gives the same run, the retrained model included."),
        Knob(
            "retain_per_class",
            "Retain samples per class",
            10,
            "The only training images UNSIR trains on. 10-20% of D_r works, 1% is too little (paper Table 8); the auto "
            "recipe takes a quarter of the smallest class, 100 to 250.",
        ),
        Knob("noise_copies", "Noise copies in impair", 1),
        Knob("noise.batch_size", "Noise samples per class", 16),
        Knob("noise.steps", "Noise steps", 5),
        Knob("noise.lr", "Noise learning rate", 0.01),
        Knob("noise.l2_weight", "λ (noise L2 weight)", 0.01),
        Knob(
            "impair.lr",
            "Impair learning rate",
            0.001,
            "High on purpose, to break the forget classes fast (paper CIFAR-10: 0.02). The most sensitive knob: too "
            "high wrecks the retain classes, too low does not forget. When the classifier head has its own rate (see "
            "below), this one sets the rest of the network.",
        ),
        Knob("impair.epochs", "Impair epochs", 1),
        Knob("impair.batch_size", "Impair batch size", 32),
        Knob(
            "repair.lr",
            "Repair learning rate",
            0.001,
            "Repair trains on the retain subset alone (paper CIFAR-10: 0.01). Lower it when the retain accuracy does "
            "not come back. When the classifier head has its own rate (see below), this one sets the rest of the "
            "network.",
        ),
        Knob(
            "repair.epochs",
            "Repair epochs",
            1,
            "More help a little (paper Fig. 7). The self-check may stop earlier, or add a few at half the rates.",
        ),
        Knob("repair.batch_size", "Repair batch size", 32),
    )
}


def preset_notes(config: UnsirConfig) -> list[str]:
    """Sentences for the settings a preset sets that have no knob: head learning rates, frozen layers, annealing."""
    phases = {p: getattr(config, p) for p in ("impair", "repair")}
    notes = []
    heads = [f"{p} {c.head_lr:g}" for p, c in phases.items() if c.head_lr is not None]
    if heads:
        notes.append(f"The preset gives the classifier head its own learning rate: {', '.join(heads)}.")
    frozen = [f"{p} {', '.join(c.frozen)}" for p, c in phases.items() if c.frozen]
    if frozen:
        notes.append(f"The preset keeps these layers fixed (learning rate 0): {'; '.join(frozen)}.")
    for p, c in phases.items():
        if c.anneal:
            notes.append(
                f"The preset lowers the {p} learning rates linearly towards 0 over the last "
                f"{c.anneal:.0%} of its steps."
            )
    return notes


AUTO = (
    "auto"  # the preset key of the auto recipe (unsir_core.algorithm.recipe): settings derived from the data and model
)


@dataclass(frozen=True)
class Step:
    """An earlier request of a sequential run: what it forgot, from which preset, with which changes (seed
    included). Its settings are the recipe's for that request (derived again when it is re-run) with them."""

    forget: tuple[str, ...]  # names of the classes that request forgot
    preset: str  # AUTO or a key in PRESETS, as Setup.preset
    overrides: tuple[tuple[str, Any], ...]  # the settings its user changed, as Setup.overrides


@dataclass(frozen=True)
class Setup:
    dataset: str = DEFAULT_DATASET  # registry key, or "folder:PATH"
    arch: str = DEFAULT_MODEL  # registry key in MODELS
    model: str = ""  # checkpoint file name in assets/ or the model store; "" = the default for dataset and arch
    forget: tuple[str, ...] = ()  # names of the forget classes
    preset: str = AUTO  # AUTO, or a key in PRESETS: where the settings start from
    base: UnsirConfig = field(default_factory=UnsirConfig)  # the preset's or the recipe's settings (see with_base)
    overrides: tuple[tuple[str, Any], ...] = ()  # settings the user changed: (dotted name, value), sorted, seed too
    retrain: bool = False  # also train the retrained gold standard in each run
    retrain_epochs: int = 0  # epochs of that retraining; 0 = as many as the original model's training
    chain: tuple[Step, ...] = ()  # earlier requests, oldest first, each made on the previous one's result

    @property
    def forgotten_before(self) -> tuple[str, ...]:
        """Classes the chain's earlier requests already forgot (this request cannot choose them)."""
        return tuple(c for step in self.chain for c in step.forget)

    def then_forget_more(self) -> Setup:
        """The next request of the chain: this one becomes an earlier step, with nothing chosen yet."""
        return replace(self, chain=(*self.chain, Step(self.forget, self.preset, self.overrides)), forget=())

    @classmethod
    def fresh(cls, dataset: str = DEFAULT_DATASET, arch: str = DEFAULT_MODEL, seed: int = 0) -> Setup:
        """The default setup for a data set and architecture: the auto recipe, nothing forgotten yet.

        The recipe needs the data and the model: until `with_base` gives it (pages do, through
        `studio.state.apply_recipe`), `base` holds the paper's settings."""
        return cls(dataset, arch, overrides=(("seed", seed),) if seed else ())

    @property
    def config(self) -> UnsirConfig:
        """The settings that run: the base with the user's changes."""
        return self.base.with_overrides(**dict(self.overrides))

    def with_base(self, base: UnsirConfig) -> Setup:
        """The same setup on new base settings (the auto recipe for new data, model or forget set): the user's
        changes stay."""
        return replace(self, base=base)

    def get(self, name: str) -> Any:
        """A setup field ("forget") or a config field by dotted name ("impair.lr")."""
        if name in {f.name for f in fields(self)}:
            return getattr(self, name)
        return config_value(self.config, name)

    def with_value(self, name: str, value: Any) -> Setup:
        """A new setup with one field changed, and what that implies.

        A new data set or architecture starts from the auto recipe and its default model; a new data set also
        clears the forget classes. A new preset replaces every setting but the seed. A new data set,
        architecture or checkpoint ends a chain.
        """
        seed = self.config.seed
        if name == "dataset":
            return replace(Setup.fresh(value, self.arch, seed), retrain=self.retrain)
        if name == "arch":
            return replace(Setup.fresh(self.dataset, value, seed), forget=self.forget, retrain=self.retrain)
        if name == "preset":
            base = PRESETS[value].config if value in PRESETS else self.base
            return replace(self, preset=value, base=base, overrides=(("seed", seed),) if seed else ())
        if name == "forget":
            return replace(self, forget=tuple(value))
        if name == "model":
            return replace(self, model=value, chain=())
        if name in {f.name for f in fields(self)}:
            return replace(self, **{name: value})
        if value == config_value(self.base, name):
            return replace(self, overrides=tuple((k, v) for k, v in self.overrides if k != name))
        return self.with_override(name, value)

    def with_override(self, name: str, value: Any) -> Setup:
        """Record `value` for the setting `name` as the user's, whatever the base says (a link's values)."""
        self.base.with_overrides(**{name: value})  # an out-of-range value is refused here (ConfigError)
        return replace(self, overrides=tuple(sorted({**dict(self.overrides), name: value}.items())))

    def changed_knobs(self) -> dict[str, Any]:
        """The numeric settings the user changed from the preset's or the recipe's (the seed aside)."""
        return {k: v for k, v in self.overrides if k != "seed"}

    def to_query(self) -> dict[str, str]:
        """URL query parameters: data set, model, forget classes, preset, seed and changed settings."""
        q = {"data": self.dataset, "arch": self.arch, "preset": self.preset, "seed": str(self.config.seed)}
        if self.model:
            q["model"] = self.model
        if self.forget:
            q["forget"] = ",".join(self.forget)
        if self.chain:
            q["chain"] = STEP_SEP.join(
                encode_step(
                    step.forget,
                    step.preset if step.preset != self.preset else None,
                    {"seed": 0, **dict(step.overrides)},
                )
                for step in self.chain
            )
        if self.retrain:
            q["retrain"] = str(self.retrain_epochs or "auto")
        q.update({k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in self.changed_knobs().items()})
        return q

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple[Setup, list[str]]:
        """The setup a URL describes, and a message for each parameter that had to be ignored."""
        problems: list[str] = []

        def pick(key: str, known: Mapping[str, Any], default: str) -> str:
            value = query.get(key, default)
            if value in known:
                return value
            if key == "data" and value.startswith("folder:"):
                try:
                    roots.data_folder(value.split(":", 1)[1])
                    return value
                except UnsirError as err:
                    problems.append(f"Ignored data {value!r} in the link: {err} Using {default!r}.")
                    return default
            problems.append(f"Unknown {key} {value!r} in the link; using {default!r}.")
            return default

        setup = cls.fresh(pick("data", DATASETS, DEFAULT_DATASET), pick("arch", MODELS, DEFAULT_MODEL))
        if "preset" in query:
            setup = setup.with_value("preset", pick("preset", {AUTO: None, **PRESETS}, setup.preset))
        if "model" in query:
            name = query["model"]
            if "/" in name or "\\" in name or not name.endswith(".safetensors"):
                problems.append(f"Ignored model {name!r} in the link: expected a checkpoint file name.")
            else:
                setup = setup.with_value("model", name)
        forget = tuple(c.strip() for c in query.get("forget", "").split(",") if c.strip())
        setup = setup.with_value("forget", forget)
        if query.get("chain"):
            try:
                steps = [step_of(*decode_step(text), setup.preset) for text in query["chain"].split(STEP_SEP)]
            except ValueError as err:  # ConfigError too: a step's setting out of its range
                problems.append(f"Ignored the earlier requests in the link ({err}).")
            else:
                setup = replace(setup, chain=tuple(steps))
        if "retrain" in query:
            epochs = query["retrain"]
            setup = setup.with_value("retrain", True)
            if epochs not in ("auto", "0"):
                value = parse_number(epochs, 0, RETRAIN_EPOCHS)
                if value is None:
                    problems.append(
                        f"Ignored retrain={epochs!r} in the link: expected auto or a whole number of "
                        f"epochs from 1 to {RETRAIN_EPOCHS['max']:,}; retraining as the original."
                    )
                else:
                    setup = setup.with_value("retrain_epochs", value)
        for name, knob in KNOBS.items():
            if name in query:
                value = parse_number(query[name], setup.get(name), {**knob.info, "min": knob.min, "low_open": False})
                if value is None:
                    problems.append(
                        f"Ignored {name}={query[name]!r} in the link: expected a number from "
                        f"{knob.min:g} to {knob.max:g}."
                    )
                else:  # a link's values are the user's, even where they equal this base (the recipe comes later)
                    setup = setup.with_value(name, value) if name == "seed" else setup.with_override(name, value)
        return setup, problems


def step_of(forget: tuple[str, ...], preset: str | None, overrides: dict[str, Any], default_preset: str) -> Step:
    """A chain's step from its URL form (`decode_step`); a seed of 0 is the default, not a change."""
    if preset is not None and preset != AUTO and preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}")
    changes = {k: v for k, v in overrides.items() if not (k == "seed" and v == 0)}
    UnsirConfig().with_overrides(**changes)  # a setting out of its range: ConfigError (a ValueError)
    return Step(forget, preset or default_preset, tuple(sorted(changes.items())))


RETRAIN_EPOCHS = setting_info("epochs", TrainConfig)  # Setup.retrain_epochs: in this range, or 0 (as the original)


def parse_number(text: str, current: Any, info: Mapping[str, Any]) -> int | float | None:
    """`text` (from a URL: anything) as the type of `current`, or None when it is not a number in `info`'s range
    (a setting's metadata, `setting_info`). Only ASCII digits count: int() and float() also take '²', '١' and
    '1_000', which no widget would give."""
    text = text.strip()
    if not text.isascii() or "_" in text:
        return None
    try:
        value = int(text) if isinstance(current, int) else float(text)
    except ValueError:
        return None
    try:
        check_value("", value, info, int if isinstance(current, int) else float)
    except ConfigError:
        return None
    return value
