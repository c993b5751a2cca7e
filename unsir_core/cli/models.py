"""`train` (an original model, or a gold standard with --exclude) and `evaluate` (a checkpoint's accuracy)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from unsir_core.cli.common import BarProgress, classes, load_data_and_model, train_config


def cmd_train(args) -> dict[str, Any]:
    from unsir_core.checkpoints.store import save_model
    from unsir_core.data import load_dataset
    from unsir_core.metrics.chance import model_chance_warning
    from unsir_core.models import DEFAULT_MODEL

    arch = args.arch or DEFAULT_MODEL
    data = load_dataset(args.dataset, args.data_root, download=not args.offline)
    cfg = train_config(args)  # checked by preflight
    if args.out:
        out = Path(args.out)  # checked (or defaulted into the model store) by preflight
    else:  # a gold standard goes to the reference store, where every session and command finds it
        from unsir_core.checkpoints.references import ReferenceKey, store_dir
        from unsir_core.common.files import check_output
        from unsir_core.models import get_spec

        width = args.width if args.width is not None else get_spec(arch).default_width
        gone = tuple(sorted(data.forget_classes(classes(args.exclude))))
        key = ReferenceKey(data.name, arch, float(width), gone, cfg)
        store_dir().mkdir(parents=True, exist_ok=True)
        out = check_output(str(store_dir() / key.file_name(data.class_names)), (".safetensors",), args.force, "--out")
    from unsir_core.training.train import fit

    bar = BarProgress(not args.quiet)
    model = fit(data, arch, cfg, exclude=classes(args.exclude), width=args.width, device=args.device, progress=bar)
    bar.close()
    save_model(model, out)
    report = {"checkpoint": str(out), "info": model.info.to_dict()}
    if warning := model_chance_warning(model.info):
        report["warning"] = warning
        print(f"warning: {warning}", file=sys.stderr)
    return report


def cmd_evaluate(args) -> dict[str, Any]:
    from unsir_core.checkpoints.store import non_finite_tensors
    from unsir_core.metrics.evaluate import evaluate

    data, model = load_data_and_model(args)
    forget = data.resolve_classes(classes(args.forget)) or list(model.info.forgotten)
    ev = evaluate(model, data, forget)
    broken = non_finite_tensors(model)
    report = {
        "dataset": data.name,
        "arch": model.info.arch,
        "forget": [data.class_names[c] for c in forget],
        "metrics": ev.to_dict(),
        "non_finite_weights": broken,
        "info": model.info.to_dict(),
    }
    if args.embedding:
        report["embedding"] = write_embedding(args, data, model, forget)
    if broken:  # such a model answers one class for everything: A_Df 0 would look like perfect forgetting
        report["warning"] = (
            f"{len(broken)} weight tensors hold NaN or inf (e.g. {broken[0]}): the model is broken "
            "and these accuracies say nothing about forgetting."
        )
        print(f"warning: {report['warning']}", file=sys.stderr)
    return report


def views_models(args, model, forget: list[int]) -> dict[str, Any]:
    """The models an embedding of `model` shows, by stage: its true original (found by the digest its lineage
    recorded; the model itself when it forgot nothing), the model as "repair" when it is unlearned, and the stored
    retrained reference for the forgotten classes at the original's settings and --seed, when there is one."""
    from unsir_core.algorithm.request import find_root
    from unsir_core.checkpoints import references
    from unsir_core.checkpoints.store import load_model
    from unsir_core.training.train import gold_standard_config

    root_path = find_root(model.info, args.checkpoint_path) if model.info.forgotten else None
    if model.info.forgotten and root_path is None:
        print(
            "warning: the original of this unlearned model was not found: the embedding shows it alone", file=sys.stderr
        )
    original = load_model(root_path) if root_path is not None else model
    found = {"original": original, **({"repair": model} if original is not model else {})}
    key = references.ReferenceKey.for_original(
        original.info, forget, gold_standard_config(original.info, args.seed or 0)
    )
    reference = references.find(key)
    if reference is not None:
        found["retrain"] = load_model(reference)
    return found


def write_embedding(args, data, model, forget: list[int]) -> dict[str, Any]:
    """The shared embedding as an SVG at --embedding; its sentence, settings and the layer-wise CKA for the JSON."""
    from unsir_core.common.errors import ConfigError
    from unsir_core.common.files import atomic_write
    from unsir_core.metrics.embedding import Embedding, sentence
    from unsir_core.metrics.views import run_views
    from unsir_core.report.views import embedding_svg, stage_phrase

    if not forget:
        raise ConfigError("--embedding needs forget classes: give --forget, or a checkpoint that forgot some.")
    models = views_models(args, model, forget)
    views = run_views(models, data, forget, args.seed or 0)
    emb = Embedding.from_dict(views["embedding"])
    svg = embedding_svg(emb, data.class_names, forget, "Penultimate features of the test images, one shared 2-D space")
    atomic_write(Path(args.embedding), lambda tmp: tmp.write_text(svg, encoding="utf-8"))
    print(f"wrote {args.embedding} ({len(svg.encode()) / 1024:.0f} KB)", file=sys.stderr)
    return {
        "file": args.embedding,
        "models": list(models),
        "sentence": sentence(emb, forget, data.class_names, {s: stage_phrase(s) for s in models}),
        "settings": emb.settings.describe(),
        "cka": views["cka"],
    }
