"""What every command shares: argument types, the checks made before any work (`preflight`), loading the data
set and model of the flags, the UNSIR settings of the flags, progress bars and JSON output."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from unsir_core.common.config import MAX_SEED, TUNING, TrainConfig, UnsirConfig, check_value, flag, setting_info
from unsir_core.common.errors import ConfigError, UnsirError
from unsir_core.common.progress import ProgressEvent
from unsir_core.models.info import LIMITS


class DegradedResult(UnsirError):
    """The collapse guard fired and --allow-degraded was not given: exit status 3, nothing saved."""


class BarProgress:
    """A tqdm bar per phase on stderr, fed by ProgressEvents."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.bar, self.phase = enabled, None, None

    def __call__(self, ev: ProgressEvent) -> None:
        if not self.enabled:
            return
        from tqdm import tqdm

        if ev.phase != self.phase or self.bar is None:
            self.close()
            self.phase = ev.phase
            self.bar = tqdm(total=ev.total, desc=f"{ev.phase:>7}", file=sys.stderr, leave=True, dynamic_ncols=True)
        self.bar.n = ev.step
        postfix = {"loss": f"{ev.loss:.3f}"} if ev.loss is not None else {}
        postfix.update({k: f"{v:.1f}" for k, v in ev.metrics.items()})
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def classes(text: str | None) -> list[str]:
    """Class names or indices separated by `,` or `;`. Each is stripped, unless it is in double quotes: then
    it is taken as written, commas and edge spaces included (`--forget '"a, b", c'`)."""
    items, field, quoted, in_quotes = [], "", False, False
    for ch in (text or "") + ",":
        if ch == '"':
            if not in_quotes and field.strip():
                raise ConfigError(f'A quote must open a whole class name in {text!r}: write "name, with comma".')
            in_quotes, quoted, field = not in_quotes, True, field if in_quotes else ""
        elif ch in ",;" and not in_quotes:
            items.append(field if quoted else field.strip())
            field, quoted = "", False
        elif quoted and not in_quotes:
            if not ch.isspace():
                raise ConfigError(f"Text after a closing quote in {text!r}: separate class names with commas.")
        else:
            field += ch
    if in_quotes:
        raise ConfigError(f"Unbalanced double quote in {text!r}: close the quoted class name.")
    return [c for c in items if c]


def seed_type(text: str) -> int:
    """argparse type of --seed: an integer from 0 to MAX_SEED."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"give a seed from 0 to {MAX_SEED}, not {text}")
    return value


OUTPUTS = {  # command -> (option, attribute, suffixes) of every file it writes
    "train": [("--out", "out", (".safetensors",))],
    "unlearn": [("--out", "out", (".json",)), ("--save-model", "save_model", (".safetensors",))],
    "evaluate": [("--out", "out", (".json",)), ("--embedding", "embedding", (".svg",))],
    "bench": [("--out", "out", (".json",))],
    "compare": [("--out", "out", None), ("--save-reference", "save_reference", (".safetensors",))],
    "robustness": [("--out", "out", (".json",)), ("--markdown", "markdown", (".md", ".markdown"))],
    "sweep": [("--out", "out", (".csv", ".parquet", ".json"))],
    "report": [("--out", "out", (".html", ".htm"))],
}


COMPARE_SUFFIXES = {"json": (".json",), "csv": (".csv",), "markdown": (".md", ".markdown")}


def preflight(args) -> None:
    """Check every argument that needs no data or model, before any work: ConfigError/CheckpointError."""
    from unsir_core.checkpoints.store import check_suffix, slug
    from unsir_core.common.device import pick_device
    from unsir_core.common.files import check_output
    from unsir_core.common.paths import model_store
    from unsir_core.data import DEFAULT_DATASET
    from unsir_core.models import DEFAULT_MODEL, get_spec

    if hasattr(args, "device"):  # `report` runs no model
        pick_device(args.device)
    if args.command == "report" and not args.out:  # the default: beside the run JSON
        args.out = str(Path(args.run).with_suffix(".html"))
    if args.command == "train":
        train_config(args)
        if args.width is not None:
            check_value("--width", args.width, WIDTH)
        try:
            get_spec(args.arch or DEFAULT_MODEL).check_input_size(args.input_size)
        except ConfigError as err:
            raise ConfigError(f"--input-size: {err}") from None
    if args.command == "bench":
        check_value("--repeats", args.repeats, REPEATS, int)
    if args.command == "robustness":
        for seed in args.seeds or ():
            check_value("--seeds", seed, setting_info("seed"), int)
    if args.command in ("unlearn", "sweep"):
        from unsir_core.algorithm.presets import get_preset
        from unsir_core.common.config import UnsirConfig

        if args.preset and args.preset != "auto":
            get_preset(args.preset)
        tuned(args, UnsirConfig())  # ranges do not depend on the recipe: an out-of-range flag fails here
    for option in ("checkpoint", "reference"):
        value = getattr(args, option, None)
        if value:
            check_suffix(Path(value))
            if not Path(value).expanduser().is_file():
                raise ConfigError(f"--{option} {value}: no such file.")
    if hasattr(args, "dataset") and args.dataset is None:
        args.dataset = checkpoint_dataset(getattr(args, "checkpoint", None)) or DEFAULT_DATASET
    if args.command == "train" and not args.out and not args.exclude:  # a new file in the model store (a gold
        # standard without --out goes to the reference store, named by cmd_train once the data set is loaded)
        arch = args.arch or DEFAULT_MODEL
        model_store().mkdir(parents=True, exist_ok=True)
        args.out = str(model_store() / slug(f"{args.dataset}-{arch}-seed{args.seed or 0}.safetensors"))
    for option, attr, suffixes in OUTPUTS[args.command]:
        if getattr(args, attr, None):
            suffixes = suffixes or COMPARE_SUFFIXES[args.format]
            setattr(args, attr, str(check_output(getattr(args, attr), suffixes, args.force, option)))


def checkpoint_dataset(checkpoint: str | None) -> str | None:
    """The data set a checkpoint's metadata names (a user's own model on `folder:PATH`), or None without one."""
    from unsir_core.checkpoints.catalog import read_info

    path = Path(checkpoint).expanduser() if checkpoint else None
    if path is None or path.suffix.lower() != ".safetensors":
        return None
    info = read_info(path, missing_ok=True)
    return info.dataset if info is not None else None


def write_json(payload: dict[str, Any], out: str | None) -> None:
    from unsir_core.common import strict_json
    from unsir_core.common.files import atomic_write

    text = strict_json.dumps(payload)
    print(text)
    if out:
        atomic_write(Path(out), lambda tmp: tmp.write_text(text + "\n"))
        print(f"wrote {out}", file=sys.stderr)


def load_data_and_model(args) -> tuple[Any, Any]:
    """Data set and model from --dataset/--data-root/--arch/--checkpoint (the path goes to args.checkpoint_path)."""
    from unsir_core.checkpoints.store import default_checkpoint, load_model, read_info
    from unsir_core.data import load_dataset
    from unsir_core.models.classifier import ModelInfo

    data = load_dataset(args.dataset, args.data_root, download=not args.offline)
    path = Path(args.checkpoint).expanduser() if args.checkpoint else default_checkpoint(data.name, args.arch)
    args.checkpoint_path = path
    info = read_info(path, missing_ok=True) if path.suffix.lower() == ".safetensors" else None
    if info is None:  # .pt/.pth, or a .safetensors from elsewhere: the classes are the data set's
        if not args.arch:
            raise ConfigError(
                f"{path.name} carries no UNSIR Studio metadata: add --arch to say which architecture "
                "it is (and --dataset which data set it was trained on)."
            )
        info = ModelInfo.for_data(args.arch, data, origin="imported")
    model = load_model(path, info)
    if args.arch and model.info.arch != args.arch:
        raise ConfigError(f"{path.name} is a {model.info.arch} checkpoint, not {args.arch}.")
    model.info.check_fits(data)
    return data, model


# The tuning flags of `unlearn`: dotted UNSIR setting -> argparse destination.
def _dest(name: str) -> str:
    """The argparse destination of a setting's flag: "noise.batch_size" -> "noise_batch"."""
    return flag(name)[2:].replace("-", "_")


def given_settings(args) -> dict[str, Any]:
    """The settings given as flags (the seed among them), by dotted name: what a link needs to re-run them."""
    values = {name: getattr(args, _dest(name)) for name in TUNING} | {"seed": args.seed}
    return {name: value for name, value in values.items() if value is not None}


def tuned(args, base):
    """`base` (an UnsirConfig) with the tuning flags applied; an out-of-range flag is an error naming the flag."""
    try:
        return base.with_overrides(**given_settings(args))
    except ConfigError as err:
        flags = [flag(name) for name in ("seed", *TUNING) if str(err).startswith(name)]
        raise ConfigError(f"{flags[0]}: {err}" if flags else str(err)) from None


def unsir_recipe(args, data, info, forget: list[str]):
    """The recipe (a named preset, or the auto recipe for this data and model) with the tuning flags applied, for
    the given forget set; an out-of-range flag is an error naming it."""
    from unsir_core.algorithm.request import resolve_recipe

    tuned(args, UnsirConfig())
    return resolve_recipe(data, info, forget, args.preset, given_settings(args))


# --width: what a checkpoint's metadata may say (ModelInfo), so that every model trained here can be loaded
WIDTH = {"help": "channel multiplier of the architecture", "min": 0, "max": LIMITS["width"], "low_open": True}


def train_config(args) -> TrainConfig:
    """The training settings of the flags; an out-of-range flag is an error naming it (TrainConfig's ranges)."""
    flags = {
        "epochs": args.epochs,
        "seed": args.seed,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "pretrained": args.pretrained,
        "input_size": args.input_size,
    }
    try:
        return TrainConfig(**{k: v for k, v in flags.items() if v is not None})
    except ConfigError as err:
        flag = next((k for k in flags if str(err).startswith(k)), None)
        raise ConfigError(f"--{flag.replace('_', '-')}: {err}" if flag else str(err)) from None


REPEATS = {"help": "warm repeats of the 1-class run", "min": 1, "max": 100}
