"""`bench`, `compare`, `robustness` and `sweep`: the experiments built on the algorithm."""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

from unsir_core.cli.common import BarProgress, classes, load_data_and_model, unsir_recipe
from unsir_core.common.config import MAX_SEED, TrainConfig
from unsir_core.common.errors import ConfigError
from unsir_core.common.progress import ProgressEvent


def cmd_bench(args) -> dict[str, Any]:
    from unsir_core.experiments.bench import format_table, run_bench

    report = run_bench(args.device, classes(args.arch), args.repeats, args.quick, args.dataset)
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

    from unsir_core.checkpoints.store import load_model, save_model
    from unsir_core.common.files import atomic_write
    from unsir_core.experiments.compare import compare
    from unsir_core.methods import METHODS, get_method
    from unsir_core.metrics.audits import MetricSettings

    names = [get_method(n).name for n in classes(args.methods)] if args.methods else list(METHODS)  # unknown: exit 2
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
    data, model = load_data_and_model(args)
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
    result = compare(
        model,
        data,
        classes(args.forget),
        names,
        settings,
        args.device,
        progress=bar,
        reference=reference,
        train_reference=not args.no_reference,
        metrics=metrics,
    )
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
    from unsir_core.common.config import ABLATIONS
    from unsir_core.experiments.robustness import ARCHS, DATA, QUICK, timed_matrix, to_markdown

    data = classes(args.data) or (QUICK["data"] if args.quick else list(DATA))
    archs = classes(args.arch) or (QUICK["arch"] if args.quick else list(ARCHS))
    ablations = classes(args.ablation) or ["none"]
    asked = [
        *((k, DATA, "data set") for k in data),
        *((k, ARCHS, "architecture") for k in archs),
        *((k, ABLATIONS, "ablation") for k in ablations),
    ]
    for key, known, what in asked:
        if key not in known:
            raise ConfigError(f"Unknown {what} {key!r} for the robustness matrix. Choose from {', '.join(known)}.")
    seeds = args.seeds if args.seeds is not None else ([0] if args.quick else [0, 1, 2])
    from tqdm import tqdm

    bar = tqdm(desc="cells", file=sys.stderr, disable=args.quiet, dynamic_ncols=True)

    def on_cell(cell, done: int, total: int) -> None:
        bar.total = total
        bar.set_postfix(
            {"last": f"{cell.data}/{cell.arch} A_Df {cell.forget_acc:.1f} A_Dr {cell.retain_share:.0f}%"}, refresh=False
        )
        bar.update(1)

    report = timed_matrix(
        data,
        archs,
        seeds,
        quick=args.quick,
        device=args.device,
        on_cell=on_cell,
        log=lambda text: bar.write(text, file=sys.stderr),
        ablations=ablations,
    )
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

    forget_sets = [tuple(classes(f)) for f in args.forget]
    counts = parse_ints(args.forget_counts, "--forget-counts") if args.forget_counts else []
    study = get_study(args.study) if args.study else None
    if study is not None and study.setting is None:
        counts = counts or list(study.values)
    if counts:
        forget_sets = list(nested_forget_sets(data, forget_sets[0], counts))
    recipes = [unsir_recipe(args, data, info, list(f)) for f in forget_sets]
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
    from unsir_core.experiments.studies import noise_contribution
    from unsir_core.experiments.sweep import check_parquet, mean_by, run_sweep
    from unsir_core.experiments.sweep_backends import make_backend
    from unsir_core.experiments.sweep_grid import check_time, expand, sweep_seconds
    from unsir_core.training.train import training_speed

    if args.out and Path(args.out).suffix.lower() == ".parquet":  # preflight checked the suffix and the path
        check_parquet()
    backend = make_backend(args.workers, args.ray, args.threads)
    data, model = load_data_and_model(args)
    preset_name, spec = _sweep_spec(args, data, model.info)
    cells = expand(spec, data)  # refuses too many runs (check_size) before making the grid
    _, speed = training_speed(
        model.info, data, TrainConfig(batch_size=spec.base.impair.batch_size), pick_device(args.device), batches=4
    )
    check_time(len(cells), sweep_seconds(spec, cells, model, data, speed))  # and their time, at the speed here
    bar = BarProgress(not args.quiet)

    def show(ev: ProgressEvent) -> None:  # one bar over the cells, with the last cell's A_Df and A_Dr after repair
        if ev.phase == "sweep":
            bar(
                ProgressEvent(
                    "cells",
                    ev.step,
                    ev.total,
                    None,
                    ev.elapsed_s,
                    {"A_Df": ev.metrics["forget_acc_repair"], "A_Dr": ev.metrics["retain_acc_repair"]},
                )
            )

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
        print(mean_by(frame, by or ["forget"]).to_string(index=False), file=sys.stderr)
    contribution = noise_contribution(frame.to_dict("records")) if "ablation" in frame else None
    if contribution is not None:
        print(contribution.sentence(), file=sys.stderr)
    print(
        f"{len(result.records)} of {len(result.cells)} cells, {result.ran} run now and {len(result.cached)} from "
        f"the cache, on {result.backend}, in {result.total_s:.1f} s",
        file=sys.stderr,
    )
    if args.out:
        result.write(args.out)
        print(f"wrote {args.out}", file=sys.stderr)
        args.out = None  # stdout still gets the JSON
    return {
        "dataset": data.name,
        "arch": model.info.arch,
        "preset": preset_name,
        "backend": result.backend,
        "cells": len(result.cells),
        "ran": result.ran,
        "cached": len(result.cached),
        "cancelled": result.cancelled,
        "total_s": result.total_s,
        "rows": json.loads(frame.to_json(orient="records")),
        **({"noise_contribution": asdict(contribution)} if contribution is not None else {}),
    }
