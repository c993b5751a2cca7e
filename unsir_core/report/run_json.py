"""The shape of a run JSON (`unlearn --out`, one run of the dashboard's download), checked before anything reads it.

A run JSON given to `report` is untrusted input: every key the report reads is checked here for its type, its
range and its length, and the nesting is bounded, so a damaged or forged file is refused with one message
saying where it is wrong instead of a traceback halfway through rendering. Torch-free.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from unsir_core.common.config import MAX_SEED
from unsir_core.common.errors import ConfigError
from unsir_core.models.info import LIMITS

MAX_DEPTH = 32  # nesting of a real run JSON: 6; json.loads itself fails near 1,000 (RecursionError)


@dataclass(frozen=True)
class Num:
    """A finite number (an int where `whole`) from lo to hi."""

    lo: float
    hi: float
    whole: bool = False

    def check(self, value: Any, where: str) -> None:
        ok = isinstance(value, int) if self.whole else isinstance(value, (int, float))
        if isinstance(value, bool) or not ok or not math.isfinite(value) or not self.lo <= value <= self.hi:
            what = "a whole number" if self.whole else "a number"
            raise ConfigError(f"{where} must be {what} from {self.lo:g} to {self.hi:g}, not {value!r}")


@dataclass(frozen=True)
class Text:
    """A string of at most `longest` characters, one of `choices` when given, starting with `prefix`."""

    longest: int = LIMITS["text"]
    choices: tuple[str, ...] = ()
    prefix: str = ""

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, str) or len(value) > self.longest:
            raise ConfigError(f"{where} must be a text of at most {self.longest:,} characters, not {_short(value)}")
        if (self.choices and value not in self.choices) or not value.startswith(self.prefix):
            raise ConfigError(
                f"{where} must be {' or '.join(self.choices) or self.prefix + '...'}, not {_short(value)}"
            )


@dataclass(frozen=True)
class Items:
    """A list of at most `longest` values of one shape."""

    item: Any
    longest: int = LIMITS["classes"]

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or len(value) > self.longest:
            raise ConfigError(f"{where} must be a list of at most {self.longest:,} values, not {_short(value)}")
        for i, v in enumerate(value):
            self.item.check(v, f"{where}[{i}]")


@dataclass(frozen=True)
class Obj:
    """An object with these keys (`optional` ones may be missing or null); other keys are not read."""

    keys: Mapping[str, Any]
    optional: frozenset[str] = frozenset()
    values: Any = None  # the shape of every other key's value, for objects keyed by name (stages, timings)

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"{where} must be an object, not {_short(value)}")
        for key, shape in self.keys.items():
            if value.get(key) is None:
                if key in self.optional:
                    continue
                raise ConfigError(f"{where} has no {key!r}")
            shape.check(value[key], f"{where}.{key}")
        for key, v in value.items():
            if self.values is not None and key not in self.keys:
                self.values.check(v, f"{where}.{key}")


@dataclass(frozen=True)
class Pair:
    """A list of exactly two values: [first, second] (a gallery's prediction: class and confidence)."""

    first: Any
    second: Any

    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, list) or len(value) != 2:
            raise ConfigError(f"{where} must be a list of two values, not {_short(value)}")
        self.first.check(value[0], f"{where}[0]")
        self.second.check(value[1], f"{where}[1]")


class Flag:
    def check(self, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, not {_short(value)}")


def _short(value: Any) -> str:
    """`value` in a message: its JSON when short, else what it is."""
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    return text if len(text) <= 60 else f"a text of {len(value):,} characters" if isinstance(value, str) else "that"


PERCENT, SECONDS, COUNT = Num(0, 100), Num(0, 10**9), Num(0, 10**12, whole=True)
NAME, NAMES = Text(), Items(Text())
SUMMARY = Obj({"forget_acc": PERCENT, "retain_acc": PERCENT, "per_class_acc": Items(PERCENT)})  # lineage.SUMMARY_KEYS
STAGE = Obj({**SUMMARY.keys, "prediction_distribution": Items(COUNT)})
STAGES = ("original", "start", "impair", "repair", "retrain")  # vocabulary.STAGE_TITLES
ENTRY = Obj(
    {
        "forget": NAMES,
        "forgotten_total": NAMES,
        "seed": Num(0, MAX_SEED, whole=True),
        "unlearn_s": SECONDS,
        "metrics": Obj({"original": SUMMARY, "repair": SUMMARY}),
        "parent": Text(1000),
    },
    frozenset({"parent"}),
)
GALLERY = Obj(
    {
        "images": Items(
            Obj(
                {
                    "label": NAME,
                    "group": Text(choices=("forget", "retain")),
                    "png": Text(10**7, prefix="data:image/png;base64,"),
                }
            ),
            1000,
        ),
        "predictions": Obj({}, values=Items(Pair(NAME, PERCENT), 1000)),
    }
)
RUN = Obj(
    {
        "dataset": NAME,
        "arch": NAME,
        "class_names": NAMES,
        "forget": NAMES,
        "forgotten_total": NAMES,
        "forget_indices": Items(COUNT),
        "config": Obj({"seed": Num(0, MAX_SEED, whole=True)}),
        "timings_s": Obj({"unlearn": SECONDS}, values=SECONDS),
        "metrics": Obj({stage: STAGE for stage in STAGES}, frozenset(STAGES) - {"original", "repair"}),
        "preset": NAME,
        "device": NAME,
        "degraded": Flag(),
        "repair_check": Obj({"message": Text(10_000)}),
        "recipe": Obj({"choices": Items(Text(10_000), 100)}, frozenset({"choices"})),
        "overrides": Obj({}, values=Num(-1e300, 1e300)),
        "extras": Obj(
            {"parent": Text(1000), "lineage": Items(ENTRY, 1000), "gallery": GALLERY, "environment": Obj({})},
            frozenset({"parent", "lineage", "gallery", "environment"}),
        ),
    },
    frozenset({"preset", "device", "degraded", "repair_check", "recipe", "overrides", "extras"}),
)


def depth(value: Any) -> int:
    """How deep lists and objects nest in `value` (a scalar: 0), without recursion."""
    deepest, todo = 0, [(value, 0)]
    while todo:
        v, d = todo.pop()
        if isinstance(v, (dict, list)):
            deepest = max(deepest, d + 1)
            if deepest > MAX_DEPTH:
                break
            todo += [(child, d + 1) for child in (v.values() if isinstance(v, dict) else v)]
    return deepest


def check_run(run: Any, where: str = "$") -> None:
    """Raise ConfigError saying where (a JSON path, `$` the run) `run` is not the shape the report reads."""
    if depth(run) > MAX_DEPTH:
        raise ConfigError(f"{where} nests lists or objects more than {MAX_DEPTH} deep")
    RUN.check(run, where)
    names = run["class_names"]
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"{where}.class_names must be 2 or more different names")
    for key in ("forget", "forgotten_total"):
        unknown = [c for c in run[key] if c not in names]
        if unknown:
            raise ConfigError(f"{where}.{key} names {unknown[0]!r}, which is not in class_names")
    if any(i >= len(names) for i in run["forget_indices"]):
        raise ConfigError(f"{where}.forget_indices must be class indices below {len(names)}")
    stages = [(f"{where}.metrics.{s}", ev) for s, ev in run["metrics"].items() if s in STAGES]
    lineage = (run.get("extras") or {}).get("lineage") or []
    stages += [
        (f"{where}.extras.lineage[{i}].metrics.{s}", ev)
        for i, e in enumerate(lineage)
        for s, ev in e["metrics"].items()
        if s in ("original", "repair")
    ]
    for place, ev in stages:
        for key in ("per_class_acc", "prediction_distribution"):
            if key in ev and len(ev[key]) != len(names):
                raise ConfigError(f"{place}.{key} must hold one value per class ({len(names)})")
    for i, e in enumerate(lineage):
        if any(c not in names for c in e["forgotten_total"]):
            raise ConfigError(f"{where}.extras.lineage[{i}].forgotten_total names a class not in class_names")
    gallery = (run.get("extras") or {}).get("gallery")
    if gallery and any(len(p) != len(gallery["images"]) for p in gallery["predictions"].values()):
        raise ConfigError(f"{where}.extras.gallery.predictions must hold one prediction per image")
