"""Command line: `python -m unsir_core train | unlearn | report | evaluate | compare | bench | robustness | sweep`.

Progress bars go to stderr, the JSON result to stdout (and to --out), strict JSON (NaN becomes null).
Every argument that can be checked is checked before any work (`preflight`): output paths (suffix,
writable folder, no existing file without --force), checkpoint paths, device and seed. A user error
prints `error: ...` and exits with status 2; nothing already saved is overwritten or half-written.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from unsir_core.common.config import (MAX_SEED, TUNING, TrainConfig, UnsirConfig, check_value, config_value, flag,
                                      setting_info)
from unsir_core.common.errors import ConfigError, UnsirError
from unsir_core.models.info import LIMITS


class DegradedResult(UnsirError):
    """The collapse guard fired and --allow-degraded was not given: exit status 3, nothing saved."""
from unsir_core.common.progress import ProgressEvent


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
            self.bar = tqdm(total=ev.total, desc=f"{ev.phase:>7}", file=sys.stderr, leave=True,
                            dynamic_ncols=True)
        self.bar.n = ev.step
        postfix = {"loss": f"{ev.loss:.3f}"} if ev.loss is not None else {}
        postfix.update({k: f"{v:.1f}" for k, v in ev.metrics.items()})
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _classes(text: str | None) -> list[str]:
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


def _seed(text: str) -> int:
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
    "evaluate": [("--out", "out", (".json",))],
    "bench": [("--out", "out", (".json",))],
    "compare": [("--out", "out", None), ("--save-reference", "save_reference", (".safetensors",))],
    "robustness": [("--out", "out", (".json",)), ("--markdown", "markdown", (".md", ".markdown"))],
    "sweep": [("--out", "out", (".csv", ".parquet", ".json"))],
    "report": [("--out", "out", (".html", ".htm"))],
}
COMPARE_SUFFIXES = {"json": (".json",), "csv": (".csv",), "markdown": (".md", ".markdown")}


def preflight(args) -> None:
    """Check every argument that needs no data or model, before any work: ConfigError/CheckpointError."""
    from unsir_core.common.device import pick_device
    from unsir_core.common.files import check_output
    from unsir_core.models import DEFAULT_MODEL
    from unsir_core.common.paths import model_store
    from unsir_core.checkpoints.store import check_suffix, slug

    if hasattr(args, "device"):  # `report` runs no model
        pick_device(args.device)
    if args.command == "report" and not args.out:  # the default: beside the run JSON
        args.out = str(Path(args.run).with_suffix(".html"))
    if args.command == "train":
        _train_config(args)
        if args.width is not None:
            check_value("--width", args.width, WIDTH)
    if args.command == "bench":
        check_value("--repeats", args.repeats, REPEATS, int)
    if args.command == "robustness":
        for seed in args.seeds or ():
            check_value("--seeds", seed, setting_info("seed"), int)
    if args.command in ("unlearn", "sweep"):
        from unsir_core.common.config import UnsirConfig
        from unsir_core.algorithm.presets import get_preset

        if args.preset and args.preset != "auto":
            get_preset(args.preset)
        _tuned(args, UnsirConfig())  # ranges do not depend on the recipe: an out-of-range flag fails here
    for option in ("checkpoint", "reference"):
        value = getattr(args, option, None)
        if value:
            check_suffix(Path(value))
            if not Path(value).expanduser().is_file():
                raise ConfigError(f"--{option} {value}: no such file.")
    if args.command == "train" and not args.out and not args.exclude:  # a new file in the model store (a gold
        # standard without --out goes to the reference store, named by cmd_train once the data set is loaded)
        arch = args.arch or DEFAULT_MODEL
        model_store().mkdir(parents=True, exist_ok=True)
        args.out = str(model_store() / slug(f"{args.dataset}-{arch}-seed{args.seed or 0}.safetensors"))
    for option, attr, suffixes in OUTPUTS[args.command]:
        if getattr(args, attr, None):
            suffixes = suffixes or COMPARE_SUFFIXES[args.format]
            setattr(args, attr, str(check_output(getattr(args, attr), suffixes, args.force, option)))


def _write_json(payload: dict[str, Any], out: str | None) -> None:
    from unsir_core.common import strict_json
    from unsir_core.common.files import atomic_write

    text = strict_json.dumps(payload)
    print(text)
    if out:
        atomic_write(Path(out), lambda tmp: tmp.write_text(text + "\n"))
        print(f"wrote {out}", file=sys.stderr)


def _load(args) -> tuple[Any, Any]:
    """Data set and model from --dataset/--data-root/--arch/--checkpoint (the path goes to args.checkpoint_path)."""
    from unsir_core.models.classifier import ModelInfo
    from unsir_core.data import load_dataset
    from unsir_core.checkpoints.store import default_checkpoint, load_model, read_info

    data = load_dataset(args.dataset, args.data_root, download=not args.offline)
    path = Path(args.checkpoint).expanduser() if args.checkpoint else default_checkpoint(data.name, args.arch)
    args.checkpoint_path = path
    info = read_info(path, missing_ok=True) if path.suffix.lower() == ".safetensors" else None
    if info is None:  # .pt/.pth, or a .safetensors from elsewhere: the classes are the data set's
        if not args.arch:
            raise ConfigError(f"{path.name} carries no UNSIR Studio metadata: add --arch to say which architecture "
                              "it is (and --dataset which data set it was trained on).")
        info = ModelInfo.for_data(args.arch, data, origin="imported")
    model = load_model(path, info)
    if args.arch and model.info.arch != args.arch:
        raise ConfigError(f"{path.name} is a {model.info.arch} checkpoint, not {args.arch}.")
    model.info.check_fits(data)
    return data, model


# --width: what a checkpoint's metadata may say (ModelInfo), so that every model trained here can be loaded
WIDTH = {"help": "channel multiplier of the architecture", "min": 0, "max": LIMITS["width"], "low_open": True}
REPEATS = {"help": "warm repeats of the 1-class run", "min": 1, "max": 100}


def _train_config(args) -> TrainConfig:
    """The training settings of the flags; an out-of-range flag is an error naming it (TrainConfig's ranges)."""
    flags = {"epochs": args.epochs, "seed": args.seed, "lr": args.lr, "batch_size": args.batch_size,
             "pretrained": args.pretrained}
    try:
        return TrainConfig(**{k: v for k, v in flags.items() if v is not None})
    except ConfigError as err:
        flag = next((k for k in flags if str(err).startswith(k)), None)
        raise ConfigError(f"--{flag.replace('_', '-')}: {err}" if flag else str(err)) from None


def cmd_train(args) -> dict[str, Any]:
    from unsir_core.data import load_dataset
    from unsir_core.models import DEFAULT_MODEL
    from unsir_core.checkpoints.store import save_model

    arch = args.arch or DEFAULT_MODEL
    data = load_dataset(args.dataset, args.data_root, download=not args.offline)
    cfg = _train_config(args)  # checked by preflight
    if args.out:
        out = Path(args.out)  # checked (or defaulted into the model store) by preflight
    else:  # a gold standard goes to the reference store, where every session and command finds it
        from unsir_core.common.files import check_output
        from unsir_core.models import get_spec
        from unsir_core.checkpoints.references import ReferenceKey, store_dir

        width = args.width if args.width is not None else get_spec(arch).default_width
        gone = tuple(sorted(data.forget_classes(_classes(args.exclude))))
        key = ReferenceKey(data.name, arch, float(width), gone, cfg)
        store_dir().mkdir(parents=True, exist_ok=True)
        out = check_output(str(store_dir() / key.file_name(data.class_names)), (".safetensors",), args.force, "--out")
    from unsir_core.training.train import fit

    bar = BarProgress(not args.quiet)
    model = fit(data, arch, cfg, exclude=_classes(args.exclude), width=args.width,
                device=args.device, progress=bar)
    bar.close()
    save_model(model, out)
    return {"checkpoint": str(out), "info": model.info.to_dict()}


# The tuning flags of `unlearn`: dotted UNSIR setting -> argparse destination.
def _dest(name: str) -> str:
    """The argparse destination of a setting's flag: "noise.batch_size" -> "noise_batch"."""
    return flag(name)[2:].replace("-", "_")


def _given(args) -> dict[str, Any]:
    """The settings given as flags (the seed among them), by dotted name: what a link needs to re-run them."""
    values = {name: getattr(args, _dest(name)) for name in TUNING} | {"seed": args.seed}
    return {name: value for name, value in values.items() if value is not None}


def _tuned(args, base):
    """`base` (an UnsirConfig) with the tuning flags applied; an out-of-range flag is an error naming the flag."""
    try:
        return base.with_overrides(**_given(args))
    except ConfigError as err:
        flags = [flag(name) for name in ("seed", *TUNING) if str(err).startswith(name)]
        raise ConfigError(f"{flags[0]}: {err}" if flags else str(err)) from None


def _unsir_recipe(args, data, info, forget: list[str]):
    """The recipe (a named preset, or the auto recipe for this data and model) with the tuning flags applied, for
    the given forget set; an out-of-range flag is an error naming it."""
    from unsir_core.algorithm.request import resolve_recipe

    _tuned(args, UnsirConfig())
    return resolve_recipe(data, info, forget, args.preset, _given(args))


def cmd_unlearn(args) -> dict[str, Any]:
    """UNSIR on --checkpoint; an already unlearned checkpoint chains (its lineage finds the true original)."""
    from unsir_core.algorithm.request import UnlearningRequest, run_request
    from unsir_core.checkpoints.lineage import finalize
    from unsir_core.checkpoints.store import save_model
    from unsir_core.common import strict_json
    from unsir_core.common.paths import ASSETS_DIR, model_store
    from unsir_core.training.train import gold_standard_config

    data, model = _load(args)
    given = _given(args)
    retrain = gold_standard_config(model.info, given.get("seed", 0)) if args.retrain else None
    bar = BarProgress(not args.quiet)
    request = UnlearningRequest(model, data, tuple(_classes(args.forget)), args.preset, given,
                                checkpoint=args.checkpoint_path, retrain=retrain)
    run = run_request(request, args.device, progress=bar)
    bar.close()
    report = run.to_json()
    if report["extras"].get("root_found") is False:
        print(f"warning: {args.checkpoint_path.name} already forgot some classes and its original was not found in "
              f"{ASSETS_DIR} or {model_store()} (by the digest of its weights): 'original' in the JSON is the starting "
              "model.", file=sys.stderr)
    reference = run.extras.get("reference")
    if reference:
        how = "reused" if reference["reused"] else "trained and stored as"
        print(f"retrained reference: {how} {reference['path']}", file=sys.stderr)
        if reference["warning"]:
            print(f"warning: {reference['warning']}", file=sys.stderr)
    if run.degraded and not args.allow_degraded:
        print(strict_json.dumps(report))
        raise DegradedResult(f"{run.result.repair_outcome.message} Nothing was saved; add --allow-degraded to keep "
                             "the result anyway.")
    if args.save_model:
        save_model(finalize(run.result.model, report), Path(args.save_model))
    return report


def cmd_report(args) -> dict[str, Any]:
    """The HTML report of a run JSON (`unlearn --out`, or one run of the dashboard's JSON download)."""
    import json

    from unsir_core.common.files import atomic_write
    from unsir_core.report.html import render
    from unsir_core.report.run_json import MAX_DEPTH, check_run

    try:
        payload = json.loads(Path(args.run).read_text())
    except FileNotFoundError:
        raise ConfigError(f"No run JSON at {args.run}: make one with `unlearn --out RUN.json`.") from None
    except ValueError as err:
        raise ConfigError(f"{args.run} is not valid JSON ({err}).") from None
    except RecursionError:  # json.loads of lists nested about 1,000 deep or more
        raise ConfigError(f"{args.run} is not a run JSON: it nests lists or objects more than {MAX_DEPTH} deep; "
                          "give the JSON of `unlearn --out` or the dashboard's.") from None
    runs = payload if isinstance(payload, list) else [payload]
    if not runs or not all(isinstance(r, dict) and "metrics" in r for r in runs):
        raise ConfigError(f"{args.run} holds no UNSIR run: expected the JSON of `unlearn --out` or the dashboard's.")
    index = len(runs) if args.run_index is None else args.run_index
    if not 1 <= index <= len(runs):
        raise ConfigError(f"--run-index {index} is out of range: {args.run} holds {len(runs)} run(s).")
    try:
        check_run(runs[index - 1])
    except ConfigError as err:
        raise ConfigError(f"{args.run} is not a run JSON: {err}; give the JSON of `unlearn --out` or the "
                          "dashboard's.") from None
    html = render(runs[index - 1], args.base_url)
    out = Path(args.out)  # checked (or defaulted beside the run JSON) by preflight
    atomic_write(out, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    print(f"wrote {out} ({len(html.encode()) / 1024:.0f} KB)", file=sys.stderr)
    return {"report": str(out), "bytes": len(html.encode())}


def cmd_evaluate(args) -> dict[str, Any]:
    from unsir_core.metrics.evaluate import evaluate
    from unsir_core.checkpoints.store import non_finite_tensors

    data, model = _load(args)
    forget = data.resolve_classes(_classes(args.forget)) or list(model.info.forgotten)
    ev = evaluate(model, data, forget)
    broken = non_finite_tensors(model)
    report = {"dataset": data.name, "arch": model.info.arch, "forget": [data.class_names[c] for c in forget],
              "metrics": ev.to_dict(), "non_finite_weights": broken, "info": model.info.to_dict()}
    if broken:  # such a model answers one class for everything: A_Df 0 would look like perfect forgetting
        report["warning"] = (f"{len(broken)} weight tensors hold NaN or inf (e.g. {broken[0]}): the model is broken "
                             "and these accuracies say nothing about forgetting.")
        print(f"warning: {report['warning']}", file=sys.stderr)
    return report


def cmd_bench(args) -> dict[str, Any]:
    from unsir_core.experiments.bench import format_table, run_bench

    report = run_bench(args.device, _classes(args.arch), args.repeats, args.quick)
    print(format_table(report), file=sys.stderr)
    return report


def _settings_overrides(pairs: list[str] | None) -> dict[str, dict[str, str]]:
    """["finetune.lr=0.01", ...] -> {"finetune": {"lr": "0.01"}} (values are converted by each method)."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        method, dot, name = key.strip().partition(".")
        if not sep or not dot or not method or not name:
            raise ConfigError(f"--set takes METHOD.FIELD=VALUE (e.g. finetune.lr=0.01), got {pair!r}.")
        out.setdefault(method, {})[name.strip()] = value.strip()
    return out


def cmd_compare(args) -> dict[str, Any]:
    from dataclasses import replace

    from unsir_core.experiments.compare import MetricSettings, compare
    from unsir_core.methods import METHODS, get_method
    from unsir_core.common.files import atomic_write
    from unsir_core.checkpoints.store import load_model, save_model

    names = [get_method(n).name for n in _classes(args.methods)] if args.methods else list(METHODS)  # unknown: exit 2
    if args.threads is not None:
        import torch

        if args.threads < 1:
            raise ConfigError(f"--threads must be at least 1, got {args.threads}.")
        torch.set_num_threads(args.threads)
    settings = _settings_overrides(args.set)
    for method in settings:
        if get_method(method).name not in [*names, "retrain"]:  # retrain: the reference's recipe
            raise ConfigError(f"--set names {method!r}, which is not among --methods ({', '.join(names)}).")
    settings = {get_method(k).name: v for k, v in settings.items()}
    for name, overrides in settings.items():
        get_method(name).settings(overrides)  # a bad field or value is an error here, before anything runs
    data, model = _load(args)
    reference = load_model(args.reference) if args.reference else None
    metrics = MetricSettings()
    if args.no_relearn:
        metrics = replace(metrics, relearn=False)
    if args.relearn_max_epochs is not None:
        metrics = replace(metrics, relearn_max_epochs=args.relearn_max_epochs)
    if args.seed is not None:
        metrics = replace(metrics, seed=args.seed)
        settings = {n: {"seed": args.seed, **settings.get(n, {})} for n in dict.fromkeys([*names, "retrain"])}
    bar = BarProgress(not args.quiet)
    result = compare(model, data, _classes(args.forget), names, settings, args.device, progress=bar,
                     reference=reference, train_reference=not args.no_reference, metrics=metrics)
    bar.close()
    print(result.to_markdown(), file=sys.stderr)
    if args.save_reference and "retrain" in result.models and not result.row("retrain").details.get("reused"):
        save_model(result.models["retrain"], Path(args.save_reference))
        print(f"saved the retrained reference to {args.save_reference} (reuse it with --reference)", file=sys.stderr)
    if args.out and args.format != "json":
        text = result.to_csv() if args.format == "csv" else result.to_markdown()
        atomic_write(Path(args.out), lambda tmp: tmp.write_text(text))
        print(f"wrote {args.out}", file=sys.stderr)
        args.out = None  # stdout still gets the JSON
    return result.to_json()


def cmd_robustness(args) -> dict[str, Any]:
    from unsir_core.experiments.robustness import ARCHS, DATA, QUICK, timed_matrix, to_markdown

    data = _classes(args.data) or (QUICK["data"] if args.quick else list(DATA))
    archs = _classes(args.arch) or (QUICK["arch"] if args.quick else list(ARCHS))
    for key, known, what in [*((k, DATA, "data set") for k in data), *((k, ARCHS, "architecture") for k in archs)]:
        if key not in known:
            raise ConfigError(f"Unknown {what} {key!r} for the robustness matrix. Choose from {', '.join(known)}.")
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    from tqdm import tqdm

    bar = tqdm(desc="cells", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)

    def on_cell(cell, done: int, total: int) -> None:
        bar.total = total
        bar.set_postfix({"last": f"{cell.data}/{cell.arch} A_Df {cell.forget_acc:.1f} A_Dr {cell.retain_share:.0f}%"},
                        refresh=False)
        bar.update(1)

    report = timed_matrix(data, archs, seeds, quick=args.quick, device=args.device, on_cell=on_cell,
                          log=lambda text: bar.write(text, file=sys.stderr))
    bar.close()
    table = to_markdown(report["rows"])
    print(table, file=sys.stderr)
    if args.markdown:
        from unsir_core.common.files import atomic_write

        atomic_write(Path(args.markdown), lambda tmp: tmp.write_text(table + "\n"))
    return report


def _sweep_spec(args, data, info) -> tuple[str, Any]:
    """The sweep of the command line: each forget set's base settings exactly as `unlearn` makes them (the recipe
    and the tuning flags), then the grid."""
    from unsir_core.experiments.studies import get_study
    from unsir_core.experiments.sweep_grid import Axis, SweepMetrics, SweepSpec, nested_forget_sets, parse_ints

    forget_sets = [tuple(_classes(f)) for f in args.forget]
    counts = parse_ints(args.forget_counts, "--forget-counts") if args.forget_counts else []
    study = get_study(args.study) if args.study else None
    if study is not None and study.setting is None:
        counts = counts or list(study.values)
    if counts:
        forget_sets = list(nested_forget_sets(data, forget_sets[0], counts))
    recipes = [_unsir_recipe(args, data, info, list(f)) for f in forget_sets]
    base = recipes[0].config
    axes = [Axis.parse(text, base) for text in args.set or []]
    if study is not None and study.setting is not None and study.setting not in [a.name for a in axes]:
        axes.insert(0, Axis.of(study.setting, study.values, base))
    seeds = parse_ints(args.seeds, "--seeds") if args.seeds else [args.seed or 0]
    if any(not 0 <= s <= MAX_SEED for s in seeds):
        raise ConfigError(f"--seeds takes seeds from 0 to {MAX_SEED}, got {args.seeds}.")
    metrics = SweepMetrics(args.relearn, args.privacy, args.relearn_max_epochs or SweepMetrics().relearn_max_epochs)
    bases = tuple((f, r.config) for f, r in zip(forget_sets, recipes))
    return recipes[0].name, SweepSpec(tuple(axes), tuple(forget_sets), tuple(seeds), base, metrics, bases)


def cmd_sweep(args) -> dict[str, Any]:
    import json

    from unsir_core.common.device import pick_device
    from unsir_core.experiments.sweep import check_parquet, run_sweep, summary
    from unsir_core.experiments.sweep_grid import check_time, expand, sweep_seconds
    from unsir_core.experiments.sweep_backends import make_backend
    from unsir_core.training.train import training_speed

    if args.out and Path(args.out).suffix.lower() == ".parquet":  # preflight checked the suffix and the path
        check_parquet()
    backend = make_backend(args.workers, args.ray, args.threads)
    data, model = _load(args)
    preset_name, spec = _sweep_spec(args, data, model.info)
    cells = expand(spec, data)  # refuses too many runs (check_size) before making the grid
    _, speed = training_speed(model.info, data, TrainConfig(batch_size=spec.base.impair.batch_size),
                              pick_device(args.device), batches=4)
    check_time(len(cells), sweep_seconds(spec, cells, model, data, speed))  # and their time, at the speed here
    bar = BarProgress(not args.quiet)

    def show(ev: ProgressEvent) -> None:  # one bar over the cells, with the last cell's A_Df and A_Dr after repair
        if ev.phase == "sweep":
            bar(ProgressEvent("cells", ev.step, ev.total, None, ev.elapsed_s, {
                "A_Df": ev.metrics["forget_acc_repair"], "A_Dr": ev.metrics["retain_acc_repair"]}))

    try:
        result = run_sweep(spec, model, data, backend, args.device, progress=show, use_cache=not args.no_cache)
    except KeyboardInterrupt:
        bar.close()
        print("interrupted: the finished cells are cached; run the same command again to continue", file=sys.stderr)
        raise
    bar.close()
    frame = result.frame()
    by = [a.name for a in spec.axes] + (["forget"] if len(spec.forget_sets) > 1 else [])
    if len(frame):
        print(summary(frame, by or ["forget"]).to_string(index=False), file=sys.stderr)
    print(f"{len(result.records)} of {len(result.cells)} cells, {result.ran} run now and {len(result.cached)} from "
          f"the cache, on {result.backend}, in {result.total_s:.1f} s", file=sys.stderr)
    if args.out:
        result.write(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
        args.out = None  # stdout still gets the JSON
    return {"dataset": data.name, "arch": model.info.arch, "preset": preset_name, "backend": result.backend,
            "cells": len(result.cells), "ran": result.ran, "cached": len(result.cached), "cancelled": result.cancelled,
            "total_s": result.total_s, "rows": json.loads(frame.to_json(orient="records"))}


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="shapes10", help="data set name, or folder:PATH (default: shapes10)")
    p.add_argument("--data-root", default=None, help="where torchvision data sets live (default: $UNSIR_DATA_ROOT)")
    p.add_argument("--offline", action="store_true", help="never download; fail with instructions if files are missing")
    p.add_argument("--arch", default=None, help="architecture (default: the checkpoint's, or smallcnn)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--seed", type=_seed, default=None, help=f"random seed, 0 to {MAX_SEED}")
    p.add_argument("--out", default=None, help="write the result here")
    p.add_argument("--force", action="store_true", help="replace output files that exist (otherwise: refused)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _unsir_options(p: argparse.ArgumentParser) -> None:
    """The UNSIR settings `_unsir_recipe` reads: a preset (or the auto recipe) and the tuning flags (unlearn, sweep)."""
    p.add_argument("--preset", default=None,
                   help="a named settings preset (default: auto, the recipe derived from the data and the model)")
    config = UnsirConfig()
    for name in TUNING:  # help and range from the setting's field (config.setting); checked by UnsirConfig
        kind = type(config_value(config, name))
        p.add_argument(flag(name), type=kind, default=None, help=setting_info(name)["help"])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m unsir_core", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train an original model, or a gold standard with --exclude")
    _common(p)
    p.add_argument("--epochs", type=int, default=None, help=f"training epochs (default {TrainConfig().epochs})")
    p.add_argument("--exclude", default=None, help='classes to leave out (names or indices, comma-separated; '
                   '"quote" a name with a comma)')
    p.add_argument("--width", type=float, default=None, help="channel multiplier (default: the architecture's)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate")
    p.add_argument("--batch-size", type=int, default=None, help="batch size")
    p.add_argument("--pretrained", action="store_true", default=None, help="start from ImageNet weights")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("unlearn", help="run UNSIR and report the metrics as JSON")
    _common(p)
    p.add_argument("--checkpoint", default=None, help="model to unlearn (default: the shipped model for the data set)")
    p.add_argument("--forget", required=True, help='classes to forget (names or indices, comma-separated; '
                   '"quote" a name with a comma or edge spaces)')
    _unsir_options(p)
    p.add_argument("--retrain", action="store_true",
                   help="also evaluate the gold standard without the forget classes (the original's training settings "
                        "and --seed): a stored reference is reused, else it is trained once and stored")
    p.add_argument("--save-model", default=None, help="save the unlearned model here (.safetensors)")
    p.add_argument("--allow-degraded", action="store_true",
                   help="keep (print, --out, --save-model) a result the collapse guard marked degraded; without it "
                        "such a run saves nothing and exits with status 3")
    p.set_defaults(func=cmd_unlearn)

    p = sub.add_parser("report", help="the HTML report of a run JSON: summary, numbers, gallery, charts, link")
    p.add_argument("run", help="a run JSON: `unlearn --out RUN.json`, or the dashboard's runs JSON")
    p.add_argument("--out", default=None, help="the HTML file to write (default: RUN.html)")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.add_argument("--run-index", type=int, default=None,
                   help="which run of a dashboard JSON holding several, from 1 (default: the last)")
    p.add_argument("--base-url", default="http://localhost:8501/",
                   help="address of the dashboard the reproduce-link opens (default: http://localhost:8501/)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("evaluate", help="accuracy of a checkpoint, overall and on forget/retain classes")
    _common(p)
    p.add_argument("--checkpoint", default=None, help="model to evaluate (default: the shipped model)")
    p.add_argument("--forget", default=None, help="classes counted as forget set (default: the model's forgotten classes)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("bench", help="time every phase (noise, impair, repair, evaluation, training, GradCAM)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--arch", default=None, help="only these architectures (comma-separated)")
    p.add_argument("--repeats", type=int, default=3, help="warm repeats of the 1-class run; the fastest counts")
    p.add_argument("--quick", action="store_true", help="smoke test: one model, one repeat, 2,000 training images")
    p.add_argument("--out", default=None, help="write the JSON report here")
    p.add_argument("--force", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=cmd_bench)

    p = sub.add_parser("robustness", help="the auto recipe on several data sets x models x forget sets x seeds")
    p.add_argument("--data", default=None, help="data sets, comma-separated (default: all; see unsir_core/experiments/robustness.py)")
    p.add_argument("--arch", default=None, help="architectures, comma-separated (default: all)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="seeds (default: 0 1 2; --quick: 0)")
    p.add_argument("--quick", action="store_true", help="a small matrix for CI: two small data sets, the Small CNN")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.add_argument("--out", default=None, help="write the JSON report (every cell and the summary) here")
    p.add_argument("--markdown", default=None, help="write the summary table here (.md)")
    p.add_argument("--force", action="store_true", help="replace --out and --markdown if they exist")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_robustness)

    p = sub.add_parser("compare", help="run several unlearning methods on one request and compare them (Table 1)")
    _common(p)
    p.add_argument("--checkpoint", default=None, help="model to unlearn (default: the shipped model for the data set)")
    p.add_argument("--forget", required=True, help='classes to forget (names or indices, comma-separated; '
                   '"quote" a name with a comma or edge spaces)')
    p.add_argument("--methods", default=None,
                   help="comma-separated methods (default: all): retrain, finetune, neggrad, neggrad_plus, "
                        "random_labels, bad_teacher, scrub, salun, unsir")
    p.add_argument("--set", action="append", default=None, metavar="METHOD.FIELD=VALUE",
                   help="override one setting of one method, e.g. --set finetune.lr=0.01 (repeatable)")
    p.add_argument("--reference", default=None,
                   help="a checkpoint retrained without the forget classes, used instead of training the reference")
    p.add_argument("--save-reference", default=None,
                   help="save the retrained reference here (.safetensors), to pass as --reference next time")
    p.add_argument("--no-reference", action="store_true",
                   help="without 'retrain' in --methods, do not train a reference (distance-to-retrain columns stay empty)")
    p.add_argument("--no-relearn", action="store_true", help="skip relearn time (the slowest metric)")
    p.add_argument("--relearn-max-epochs", type=int, default=None, help="cap of the relearn time (default 10)")
    p.add_argument("--threads", type=int, default=None,
                   help="CPU threads for torch (default: torch's choice; 1 is often faster on a busy 2-core machine)")
    p.add_argument("--format", choices=("json", "csv", "markdown"), default="json",
                   help="format of --out (stdout always gets the JSON; the Markdown table goes to stderr)")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("sweep", help="what-if: run UNSIR over a grid of settings, forget sets and seeds (paper "
                                     "Tables 1, 5, 6, 8, 9, Fig. 7)")
    _common(p)
    p.add_argument("--checkpoint", default=None, help="model to unlearn (default: the shipped model for the data set)")
    p.add_argument("--forget", required=True, action="append",
                   help='a forget set (names or indices, comma-separated; "quote" a name with a comma); repeat it '
                        'to sweep several')
    _unsir_options(p)
    p.add_argument("--set", action="append", default=None, metavar="SETTING=V1,V2,...",
                   help="sweep one UNSIR setting by its dotted name, e.g. --set impair.lr=0.001,0.01,0.1 (repeatable: "
                        "a grid)")
    p.add_argument("--study", default=None,
                   help="a paper study as the grid: table5 (impair lr), table6 (repair lr), table8 (retain samples), "
                        "table9 (lambda), fig7 (repair epochs), table1 (1, 2, 4, 7 forgotten classes)")
    p.add_argument("--forget-counts", default=None,
                   help="forget this many classes, e.g. 1,2,4,7: the first --forget set, grown by the next classes")
    p.add_argument("--seeds", default=None, help="seeds, comma-separated (default: --seed, or 0)")
    p.add_argument("--workers", type=int, default=None, help="run the cells in N local processes")
    p.add_argument("--ray", nargs="?", const="local", default=None, metavar="ADDRESS",
                   help="run the cells as Ray tasks: a local Ray, or the cluster at ADDRESS (ray://HOST:10001, auto)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads per cell (default: in-process as is; pool: cores / workers; Ray: 1)")
    p.add_argument("--relearn", action="store_true", help="also measure relearn time (slow)")
    p.add_argument("--relearn-max-epochs", type=int, default=None, help="cap of the relearn time (default 10)")
    p.add_argument("--privacy", action="store_true", help="also run membership inference (entropy, confidence)")
    p.add_argument("--no-cache", action="store_true", help="run every cell again (the results still go to the cache)")
    p.set_defaults(func=cmd_sweep)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        preflight(args)
        payload = args.func(args)
        _write_json(payload, args.out if args.command not in ("train", "report") else None)
    except DegradedResult as err:
        print(f"error: {err}", file=sys.stderr)
        return 3
    except UnsirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was saved", file=sys.stderr)
        return 130
    return 0
