"""The setup a user builds in the dashboard (data set, model, forget classes, UNSIR settings) and its URL form.

A `Setup` is a frozen value: pages never edit it in place, they derive a new one with `with_value`.
`to_query` / `from_query` turn it into URL query parameters and back, so a link reproduces a setup.
Hyperparameters appear in the URL only where they differ from the preset, which keeps links short.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping

from unsir_core import roots
from unsir_core.config import UnsirConfig
from unsir_core.data import DATASETS, DEFAULT_DATASET
from unsir_core.errors import UnsirError
from unsir_core.models import DEFAULT_MODEL, MODELS
from unsir_core.presets import PRESETS, preset_for


@dataclass(frozen=True)
class Knob:
    """One numeric UNSIR setting: its widget label, help text and valid range (also used to check URLs)."""

    label: str
    help: str
    min: float
    max: float
    step: float


KNOBS: dict[str, Knob] = {
    "seed": Knob("Seed", "Seeds the noise, the retain subset, the shuffling and the retrained model: the same "
                 "seed gives the same run.", 0, 2**31 - 1, 1),
    "retain_per_class": Knob(
        "Retain samples per class",
        "Size of the retain subset D_r_sub per retain class: the only training images UNSIR reads. The paper uses "
        "1000 on CIFAR-10; 10-20% of D_r works, 1% is too little (paper Table 8).", 1, 100_000, 10),
    "noise_copies": Knob("Noise copies in impair",
                         "How often the noise batch is repeated in the impair data (paper: 20).", 1, 1000, 1),
    "noise.batch_size": Knob("Noise samples per class",
                             "Noise images learned for each forget class (paper: 256).", 1, 4096, 16),
    "noise.steps": Knob("Noise steps", "Adam steps on the noise pixels (authors' notebook: 40).", 1, 5000, 5),
    "noise.lr": Knob("Noise learning rate", "Adam learning rate on the noise pixels (paper: 0.1).",
                     1e-6, 10.0, 0.01),
    "noise.l2_weight": Knob(
        "λ (noise L2 weight)",
        "λ in −CE(f(N), y_f) + λ·mean‖N‖²: larger λ keeps the noise smaller (paper: 0.1 works across tasks, "
        "Table 9).",
        0.0, 100.0, 0.01),
    "impair.lr": Knob(
        "Impair learning rate",
        "Adam learning rate of the impair step, high on purpose to break the forget classes fast (paper CIFAR-10: "
        "0.02). The most sensitive knob: too high wrecks the retain classes, too low does not forget. When the "
        "preset gives the classifier head its own rate (see below), this one sets the rest of the network.",
        1e-7, 10.0, 0.001),
    "impair.epochs": Knob("Impair epochs", "Passes over noise + retain subset (paper: 1).", 1, 100, 1),
    "impair.batch_size": Knob("Impair batch size", "Samples per impair step (paper: 256).", 1, 8192, 32),
    "repair.lr": Knob(
        "Repair learning rate",
        "Adam learning rate of the repair step on the retain subset alone (paper CIFAR-10: 0.01). Lower it when "
        "the retain accuracy does not come back. When the preset gives the classifier head its own rate (see "
        "below), this one sets the rest of the network.", 1e-7, 10.0, 0.001),
    "repair.epochs": Knob("Repair epochs", "Passes over the retain subset; more help a little (paper Fig. 7).",
                          1, 100, 1),
    "repair.batch_size": Knob("Repair batch size", "Samples per repair step (paper: 256).", 1, 8192, 32),
}


def config_value(config: UnsirConfig, name: str) -> Any:
    """A config field by dotted name, e.g. "impair.lr"."""
    value: Any = config
    for part in name.split("."):
        value = getattr(value, part)
    return value


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
            notes.append(f"The preset lowers the {p} learning rates linearly towards 0 over the last "
                         f"{c.anneal:.0%} of its steps.")
    return notes


@dataclass(frozen=True)
class Setup:
    dataset: str = DEFAULT_DATASET  # registry key, or "folder:PATH"
    arch: str = DEFAULT_MODEL  # registry key in MODELS
    model: str = ""  # checkpoint file name in assets/ or the model store; "" = the default for dataset and arch
    forget: tuple[str, ...] = ()  # names of the forget classes
    preset: str = ""  # key in PRESETS the settings started from
    config: UnsirConfig = field(default_factory=UnsirConfig)  # the UNSIR settings
    retrain: bool = False  # also train the retrained gold standard in each run
    retrain_epochs: int = 0  # epochs of that retraining; 0 = as many as the original model's training

    @classmethod
    def fresh(cls, dataset: str = DEFAULT_DATASET, arch: str = DEFAULT_MODEL, seed: int = 0) -> "Setup":
        """The default setup for a data set and architecture: its best preset, nothing forgotten yet."""
        preset = preset_for(dataset, arch)
        return cls(dataset, arch, preset=preset.name, config=preset.config.with_overrides(seed=seed))

    def get(self, name: str) -> Any:
        """A setup field ("forget") or a config field by dotted name ("impair.lr")."""
        if name in {f.name for f in fields(self)}:
            return getattr(self, name)
        return config_value(self.config, name)

    def with_value(self, name: str, value: Any) -> "Setup":
        """A new setup with one field changed, and what that implies.

        A new data set or architecture starts from its own preset and default model (presets are
        tuned per data set and model); a new data set also clears the forget classes. A new preset
        replaces every setting but the seed.
        """
        seed = self.config.seed
        if name == "dataset":
            return replace(Setup.fresh(value, self.arch, seed), retrain=self.retrain)
        if name == "arch":
            return replace(Setup.fresh(self.dataset, value, seed), forget=self.forget, retrain=self.retrain)
        if name == "preset":
            return replace(self, preset=value, config=PRESETS[value].config.with_overrides(seed=seed))
        if name == "forget":
            return replace(self, forget=tuple(value))
        if name in {f.name for f in fields(self)}:
            return replace(self, **{name: value})
        return replace(self, config=self.config.with_overrides(**{name: value}))

    def changed_knobs(self) -> dict[str, Any]:
        """The numeric settings that differ from the preset's."""
        base = PRESETS[self.preset].config if self.preset in PRESETS else UnsirConfig()
        return {k: self.get(k) for k in KNOBS if k != "seed" and self.get(k) != config_value(base, k)}

    def to_query(self) -> dict[str, str]:
        """URL query parameters: data set, model, forget classes, preset, seed and changed settings."""
        q = {"data": self.dataset, "arch": self.arch, "preset": self.preset, "seed": str(self.config.seed)}
        if self.model:
            q["model"] = self.model
        if self.forget:
            q["forget"] = ",".join(self.forget)
        if self.retrain:
            q["retrain"] = str(self.retrain_epochs or "auto")
        q.update({k: f"{v:g}" if isinstance(v, float) else str(v) for k, v in self.changed_knobs().items()})
        return q

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> tuple["Setup", list[str]]:
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
            setup = setup.with_value("preset", pick("preset", PRESETS, setup.preset))
        if "model" in query:
            name = query["model"]
            if "/" in name or "\\" in name or not name.endswith(".safetensors"):
                problems.append(f"Ignored model {name!r} in the link: expected a checkpoint file name.")
            else:
                setup = setup.with_value("model", name)
        forget = tuple(c.strip() for c in query.get("forget", "").split(",") if c.strip())
        setup = setup.with_value("forget", forget)
        if "retrain" in query:
            epochs = query["retrain"]
            setup = setup.with_value("retrain", True)
            setup = setup.with_value("retrain_epochs", int(epochs) if epochs.isdigit() else 0)
        for name, knob in KNOBS.items():
            if name in query:
                value = parse_knob(knob, query[name], setup.get(name))
                if value is None:
                    problems.append(f"Ignored {name}={query[name]!r} in the link: expected a number from "
                                    f"{knob.min:g} to {knob.max:g}.")
                else:
                    setup = setup.with_value(name, value)
        return setup, problems


def parse_knob(knob: Knob, text: str, current: Any) -> int | float | None:
    """`text` as the type of `current`, or None when it is not a number in the knob's range."""
    try:
        value = int(text) if isinstance(current, int) else float(text)
    except ValueError:
        return None
    return value if knob.min <= value <= knob.max else None
