"""The schema of `ModelInfo.details`: what a checkpoint may say beyond its network, checked on every read.

Metadata is description, never instruction: no file path, URL or code is taken from it. `root` is the
true original's file name, shown to people and nothing more; `root_sha256` is the digest of its
weights, by which `request.find_root` finds the original in the model store and the shipped assets.

The rule, one for every field:
- every key a page or a run reads has its rule in `RULES` (types, ranges, lengths; class names that
  must be the model's own), so the readers can index and format it without further checks;
- any other key is kept as description only when it is plain, bounded JSON (`plain`: at most
  `LIMITS["depth"]` levels, `LIMITS["items"]` items per list or object, `LIMITS["long_text"]`
  characters per string, `LIMITS["nodes"]` values in all);
- a value that breaks a rule makes the whole checkpoint invalid: CheckpointError naming the field
  (`details.train_config.epochs must be ...`), as for a wrong top-level field. Such a file is never
  listed, loaded or imported; nothing is silently dropped, so what a page shows is what the file says.

Torch-free, like `model_info`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields as dataclass_fields
from typing import Any

from unsir_core.common.config import MAX_SEED, TrainConfig, UnsirConfig, numeric_settings
from unsir_core.common.errors import CheckpointError, ConfigError

LIMITS = {
    "depth": 8,  # levels below `details` (details.lineage[].config.impair.frozen[] is 5)
    "items": 10_000,  # items of a list or object (per-class lists of up to 10,000 classes)
    "nodes": 200_000,  # values in all (a long lineage of 100-class models is about 30,000)
    "text": 255,  # characters of a name (preset, parent, file name: 255 is the usual limit of a file name)
    "long_text": 2_000,  # characters of any other string
    "lineage": 100,  # requests in a chain
    "seconds": 1e7,  # a recorded duration (about 4 months)
}

NUMERIC = numeric_settings()  # the settings a lineage entry's overrides may name
Rule = Callable[[Any, str, Sequence[str]], None]  # (value, its dotted place, the model's class names)


def check_details(details: Any, class_names: Sequence[str]) -> None:
    """Raise CheckpointError unless `details` (a checkpoint's, untrusted) is an object that passes `RULES`
    for the keys it names and is plain bounded JSON everywhere (see the module's rule)."""
    need(isinstance(details, dict), "details must be a JSON object")
    plain(details, "details")
    for key, value in details.items():
        if key in RULES:
            RULES[key](value, f"details.{key}", class_names)


def plain(value: Any, where: str) -> None:
    """Raise CheckpointError unless `value` is JSON within `LIMITS` (depth, items, string lengths, node count)."""
    todo, nodes = [(value, where, 0)], 0
    while todo:
        v, at, depth = todo.pop()
        nodes += 1
        need(nodes <= LIMITS["nodes"], f"{where} holds more than {LIMITS['nodes']:,} values")
        if isinstance(v, str):
            need(len(v) <= LIMITS["long_text"], f"{at} is longer than {LIMITS['long_text']:,} characters")
        elif isinstance(v, (dict, list)):
            need(depth < LIMITS["depth"], f"{at} is nested more than {LIMITS['depth']} levels deep")
            need(len(v) <= LIMITS["items"], f"{at} has more than {LIMITS['items']:,} items")
            if isinstance(v, dict):
                need(
                    all(isinstance(k, str) and len(k) <= LIMITS["text"] for k in v),
                    f"{at} has a key that is not a name of at most {LIMITS['text']} characters",
                )
                todo.extend((item, f"{at}.{k}", depth + 1) for k, item in v.items())
            else:
                todo.extend((item, f"{at}[{i}]", depth + 1) for i, item in enumerate(v))
        else:
            need(v is None or isinstance(v, (bool, int, float)), f"{at} is not JSON")


# --- rules for one value ------------------------------------------------------------------------------------


def need(ok: bool, what: str) -> None:
    """Raise CheckpointError saying `what` unless `ok`."""
    if not ok:
        raise CheckpointError(f"{what}.")


def is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return is_int(v) or isinstance(v, float)


def whole(lo: int, hi: int) -> Rule:
    def rule(v: Any, at: str, names: Sequence[str]) -> None:
        need(is_int(v) and lo <= v <= hi, f"{at} must be a whole number from {lo:,} to {hi:,}, not {v!r}")

    return rule


def number(lo: float, hi: float, low_open: bool = False, nan_ok: bool = False) -> Rule:
    """A finite number in [lo, hi] ((lo, hi] when `low_open`); NaN too with `nan_ok` (a metric with nothing to
    measure)."""

    def rule(v: Any, at: str, names: Sequence[str]) -> None:
        if nan_ok and isinstance(v, float) and math.isnan(v):
            return
        ok = is_number(v) and math.isfinite(v) and (lo < v if low_open else lo <= v) and v <= hi
        need(ok, f"{at} must be a number {'above' if low_open else 'from'} {lo:g} up to {hi:g}, not {v!r}")

    return rule


def text(empty_ok: bool = False) -> Rule:
    def rule(v: Any, at: str, names: Sequence[str]) -> None:
        need(
            isinstance(v, str) and (empty_ok or v) and len(v) <= LIMITS["text"],
            f"{at} must be a {'' if empty_ok else 'non-empty '}text of at most {LIMITS['text']} characters",
        )

    return rule


def boolean(v: Any, at: str, names: Sequence[str]) -> None:
    need(isinstance(v, bool), f"{at} must be true or false, not {v!r}")


def choice(*options: str) -> Rule:
    def rule(v: Any, at: str, names: Sequence[str]) -> None:
        need(v in options, f"{at} must be one of {', '.join(options)}, not {v!r}")

    return rule


def obj(fields: Mapping[str, Rule], required: Sequence[str] = ()) -> Rule:
    """An object whose keys in `fields` follow their rules (those in `required` must be there); other keys are
    plain description."""

    def rule(v: Any, at: str, names: Sequence[str]) -> None:
        need(isinstance(v, dict), f"{at} must be a JSON object")
        missing = [k for k in required if k not in v]
        need(not missing, f"{at} lacks {', '.join(missing)}")
        for key, value in v.items():
            if key in fields:
                fields[key](value, f"{at}.{key}", names)

    return rule


def class_list(v: Any, at: str, names: Sequence[str]) -> None:
    need(
        isinstance(v, list) and len(v) == len(set(v)) and all(isinstance(c, str) and c in names for c in v),
        f"{at} must list different class names of the model",
    )


def hex_digest(v: Any, at: str, names: Sequence[str]) -> None:
    need(isinstance(v, str) and re.fullmatch(r"[0-9a-f]{64}", v) is not None, f"{at} must be 64 hex digits")


def _settings(v: Any, at: str, names: Sequence[str]) -> None:
    """A whole UNSIR configuration, checked by UnsirConfig itself (keys and ranges)."""
    need(isinstance(v, dict), f"{at} must be a JSON object")
    try:
        UnsirConfig.from_dict(v)
    except (ConfigError, TypeError, ValueError) as err:
        raise CheckpointError(f"{at} is not an UNSIR configuration ({err})") from None


def _overrides(v: Any, at: str, names: Sequence[str]) -> None:
    """Settings a user changed: names a link may carry, values UnsirConfig accepts."""
    need(
        isinstance(v, dict) and all(k in NUMERIC and is_number(x) for k, x in v.items()),
        f"{at} must map UNSIR setting names ({', '.join(sorted(NUMERIC)[:3])}, ...) to numbers",
    )
    try:
        UnsirConfig().with_overrides(**v)
    except ConfigError as err:
        raise CheckpointError(f"{at}: {err}") from None


PERCENT = number(0, 100, nan_ok=True)


def _per_class(v: Any, at: str, names: Sequence[str]) -> None:
    need(isinstance(v, list) and len(v) == len(names), f"{at} must hold one accuracy per class ({len(names)})")
    for i, x in enumerate(v):
        PERCENT(x, f"{at}[{i}]", names)


STAGE = obj(
    {"forget_acc": PERCENT, "retain_acc": PERCENT, "overall_acc": PERCENT, "per_class_acc": _per_class},
    required=("forget_acc", "retain_acc", "overall_acc", "per_class_acc"),
)


def _metrics(v: Any, at: str, names: Sequence[str]) -> None:
    """Per stage, the summary of a request's evaluation; the original and the unlearned model at least."""
    need(
        isinstance(v, dict) and "original" in v and "repair" in v,
        f"{at} must be an object with the stages original and repair",
    )
    for stage, ev in v.items():
        STAGE(ev, f"{at}.{stage}", names)


def _entry_forget(v: Any, at: str, names: Sequence[str]) -> None:
    class_list(v, at, names)
    need(len(v) >= 1, f"{at} must name at least one class")


ENTRY = obj(
    {
        "forget": _entry_forget,
        "forgotten_total": class_list,
        "config": _settings,
        "seed": whole(0, MAX_SEED),
        "preset": text(),
        "overrides": _overrides,
        "metrics": _metrics,
        "unlearn_s": number(0, LIMITS["seconds"]),
        "parent": text(empty_ok=True),
    },
    required=("forget", "forgotten_total", "seed", "metrics", "unlearn_s", "parent"),
)


def _lineage(v: Any, at: str, names: Sequence[str]) -> None:
    """The requests that made the model (`lineage.entry`), oldest first."""
    need(isinstance(v, list) and len(v) <= LIMITS["lineage"], f"{at} must list at most {LIMITS['lineage']} requests")
    for i, item in enumerate(v):
        ENTRY(item, f"{at}[{i}]", names)


def _train_config(v: Any, at: str, names: Sequence[str]) -> None:
    """Training settings, checked by TrainConfig itself (its fields' ranges: the same as `train`'s flags)."""
    need(isinstance(v, dict), f"{at} must be a JSON object")
    known = {f.name: f for f in dataclass_fields(TrainConfig)}
    need(set(v) <= set(known), f"{at} has unknown keys {sorted(set(v) - set(known))!r}")
    need(
        all(isinstance(v[k], bool) for k in v if known[k].type in ("bool", bool)),
        f"{at}: augment and pretrained must be true or false",
    )
    try:
        TrainConfig(**v)
    except ConfigError as err:  # its message starts with the field's name
        raise CheckpointError(f"{at}.{err}") from None


RULES: dict[str, Rule] = {  # every details key that code reads, and its rule
    "train_config": _train_config,  # training settings: the gold standard is retrained with them
    "train_s": number(0, LIMITS["seconds"]),  # training time, shown for a stored reference
    "settings": obj({}),  # a method's settings (a compared reference), shown as they are
    "lineage": _lineage,  # the chain of requests: timeline, report, links
    "root": text(),  # the true original's file name: shown, never opened
    "root_sha256": hex_digest,  # the true original's weights (`catalog.weights_sha256`)
}
