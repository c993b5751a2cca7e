"""The grid of a what-if sweep: the swept settings and their values, forget sets, seeds and metrics, expanded into
cells, with the caps on a sweep's size checked before anything runs."""

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unsir_core.common.config import UnsirConfig, config_value, parse_setting
from unsir_core.common.errors import ConfigError
from unsir_core.data import ImageData
from unsir_core.metrics.audits import MetricSettings
from unsir_core.models.classifier import Classifier

if TYPE_CHECKING:
    pass


def parse_ints(text: str, what: str) -> list[int]:
    """ "0, 1, 2" -> [0, 1, 2]; ConfigError naming `what` otherwise."""
    try:
        return [int(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"{what} takes whole numbers separated by commas (e.g. 0,1,2), got {text!r}.") from None


@dataclass(frozen=True)
class Axis:
    """One swept setting and its values, in the order they are shown."""

    name: str  # dotted UNSIR setting, e.g. "impair.lr"
    values: tuple[Any, ...]  # the values it takes

    @classmethod
    def parse(cls, text: str, base: UnsirConfig) -> "Axis":
        """ "impair.lr=0.001,0.01,0.1" -> Axis, values typed like the base setting."""
        name, sep, values = text.partition("=")
        name = name.strip()
        if not sep or not name or not values.strip():
            raise ConfigError(f"A swept setting is NAME=V1,V2,... (e.g. impair.lr=0.001,0.01,0.1), got {text!r}.")
        return cls.of(name, values.split(","), base)

    @classmethod
    def of(cls, name: str, values: Iterable[Any], base: UnsirConfig) -> "Axis":
        current = config_value(base, name)
        parsed = tuple(dict.fromkeys(parse_setting(name, v, current) for v in values if str(v).strip()))
        if not parsed:
            raise ConfigError(f"Give {name} at least one value.")
        return cls(name, parsed)


@dataclass(frozen=True)
class SweepMetrics:
    """What each cell measures beyond accuracy and time (both audits read forget-class images on purpose)."""

    relearn: bool = False  # relearn time of the unlearned model (slow: up to relearn_max_epochs fine-tunes)
    privacy: bool = False  # membership inference on the unlearned model, entropy and confidence attacks
    relearn_max_epochs: int = 10  # cap of the relearn time; the other metric settings are the Compare page's

    @property
    def settings(self) -> MetricSettings:
        return MetricSettings(relearn=self.relearn, relearn_max_epochs=self.relearn_max_epochs)


@dataclass(frozen=True)
class SweepSpec:
    """A whole sweep: the grid, the forget sets, the seeds, the settings not swept and the metrics."""

    axes: tuple[Axis, ...]  # swept settings (none: only forget sets x seeds)
    forget_sets: tuple[tuple[str, ...], ...]  # each one forget request (class names or indices)
    seeds: tuple[int, ...] = (0,)  # each cell runs once per seed
    base: UnsirConfig = field(default_factory=UnsirConfig)  # every setting the axes do not set
    metrics: SweepMetrics = field(default_factory=SweepMetrics)  # extra measurements per cell
    bases: tuple[tuple[tuple[str, ...], UnsirConfig], ...] = ()  # (forget set, its own base): the auto recipe
    # depends on the forget set; a forget set not listed here uses `base`

    def base_for(self, forget: Sequence[str]) -> UnsirConfig:
        return dict(self.bases).get(tuple(forget), self.base)


@dataclass(frozen=True)
class Cell:
    index: int  # position in the grid (row order of the results)
    forget: tuple[str, ...]  # class names of the forget request
    seed: int  # the run's seed
    values: tuple[tuple[str, Any], ...]  # (setting, value) of each axis
    config: UnsirConfig  # the full UNSIR settings of this run

    @property
    def label(self) -> str:
        parts = [f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.values]
        return ", ".join([*parts, f"forget {', '.join(self.forget)}", f"seed {self.seed}"])


MAX_CELLS = 1_000  # runs in one sweep; the paper's largest study (Table 1: 4 forget sets x 3 seeds) has 12
MAX_SECONDS = 12 * 3600  # estimated time of one sweep


def grid_size(spec: SweepSpec) -> int:
    """How many cells the sweep has, counted without expanding it."""
    return len(spec.forget_sets) * math.prod(len(a.values) for a in spec.axes) * len(dict.fromkeys(spec.seeds))


def sweep_seconds(
    spec: SweepSpec, cells: Sequence[Cell], model: Classifier, data: ImageData, images_per_s: float
) -> float:
    """About how long `cells` run here: each cell's UNSIR training images (with its own settings) and those of
    its measurements, as the Compare page estimates a row (`compare_plan`), at `images_per_s`
    (`train.training_speed`)."""
    from unsir_core.experiments.compare_plan import measurement_images
    from unsir_core.methods.base import Request
    from unsir_core.methods.unsir import unsir_images

    per_forget: dict[tuple[str, ...], tuple[Any, float]] = {}  # workload and measurement of each forget set
    images = 0.0
    for cell in cells:
        if cell.forget not in per_forget:
            request = tuple(data.forget_classes(cell.forget, model.info.forgotten))
            gone = tuple(sorted(set(request) | set(model.info.forgotten)))
            per_forget[cell.forget] = (
                Request(model.info, data, request).workload(),
                measurement_images(data, spec.metrics.settings, gone),
            )
        work, measured = per_forget[cell.forget]
        images += unsir_images(cell.config, work) + measured
    return images / images_per_s


SPLIT = (
    "Give fewer values, forget sets or seeds, or split it into several sweeps (finished runs are cached, so "
    "the parts add up)."
)


def check_size(spec: SweepSpec) -> None:
    """Refuse a sweep of more than MAX_CELLS cells, before its grid is made."""
    cells = grid_size(spec)
    if cells > MAX_CELLS:
        raise ConfigError(
            f"This sweep has {cells:,} runs (values x forget sets x seeds); one sweep runs at most "
            f"{MAX_CELLS:,}. {SPLIT}"
        )


def check_time(cells: int, seconds: float) -> None:
    """Refuse a sweep of `cells` runs estimated (`sweep_seconds`) to take more than MAX_SECONDS, before it runs."""
    if seconds > MAX_SECONDS:
        raise ConfigError(
            f"This sweep of {cells:,} runs would take about {seconds / 3600:,.1f} hours here "
            f"({seconds / cells:,.1f} s per run, estimated); one sweep runs at most "
            f"{MAX_SECONDS / 3600:g} hours. {SPLIT}"
        )


def expand(spec: SweepSpec, data: ImageData) -> list[Cell]:
    """Every cell of the sweep: forget sets x combinations of the axes' values x seeds, in that nesting order,
    each on its forget set's base settings.

    The size is checked first (`check_size`), and each cell's config here, so a value the engine refuses is an
    error before anything runs.
    """
    check_size(spec)
    if not spec.forget_sets:
        raise ConfigError("Give at least one forget set.")
    if not spec.seeds:
        raise ConfigError("Give at least one seed.")
    names = [a.name for a in spec.axes]
    if len(set(names)) != len(names):
        raise ConfigError(f"Each setting can be swept once; got {', '.join(names)}.")
    for axis in spec.axes:
        if axis.name == "seed":
            raise ConfigError("Sweep seeds with the seeds list, not as a setting.")
        config_value(spec.base, axis.name)
    cells: list[Cell] = []
    for forget in spec.forget_sets:
        request = tuple(data.class_names[c] for c in data.forget_classes(forget))
        base = spec.base_for(forget)
        for combo in itertools.product(*(a.values for a in spec.axes)):
            values = tuple(zip(names, combo))
            for seed in dict.fromkeys(spec.seeds):
                try:
                    config = base.with_overrides(**dict(values), seed=int(seed))
                except TypeError as err:  # dataclasses.replace on an unknown field
                    raise ConfigError(f"Cannot set {dict(values)}: {err}.") from err
                cells.append(Cell(len(cells), request, int(seed), values, config))
    return cells


def nested_forget_sets(data: ImageData, first: Sequence[str], counts: Iterable[int]) -> tuple[tuple[str, ...], ...]:
    """Forget sets of growing size for "what if I forget 1, 2, 4 or 7 classes?" (paper Table 1).

    Each set holds the one before: `first` (the classes already chosen), then the other classes in index order.
    """
    chosen = [data.class_names[c] for c in data.resolve_classes(first)]
    order = chosen + [n for n in data.class_names if n not in chosen]
    out = []
    for k in counts:
        if not 1 <= k < data.num_classes:
            raise ConfigError(f"Forget 1 to {data.num_classes - 1} classes of {data.name}, not {k}.")
        out.append(tuple(order[:k]))
    return tuple(dict.fromkeys(out))
