"""Time the views of issue 22 on the default (Shapes-10, shipped Small CNN, forget star): the shared embedding of
2,000 test images under the original, unlearned and retrained models with PCA and with UMAP, and layer-wise CKA,
as the pages ask for them (`unsir_core.metrics.views`: one forward pass per model, cached per weights and sample).

    python tools/bench_views.py [--repeats 3] [--threads 2]

Prints the fastest of `--repeats` timings of each step (wall and process CPU seconds), the machine's load average
(the CPU may be shared), and the sentence. "From scratch" clears the engine's caches first; "cached" is a second
look at the same models. UMAP's first call in a process loads (or, the first time on a machine, compiles) its numba
code, cached under $UNSIR_HOME/numba: printed apart.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from unsir_core import default_checkpoint, load_dataset, load_model, unlearn  # noqa: E402
from unsir_core.checkpoints.references import SHIPPED_DIR, ReferenceKey, find  # noqa: E402
from unsir_core.metrics import embedding as emb  # noqa: E402
from unsir_core.metrics import views  # noqa: E402
from unsir_core.training.train import gold_standard_config  # noqa: E402


def fastest(repeats: int, fn, fresh: bool = False) -> tuple[float, float, object]:
    """(best wall s, its CPU s, result) of `repeats` calls; `fresh` clears the engine's caches before each."""
    best, cpu, out = float("inf"), 0.0, None
    for _ in range(repeats):
        if fresh:
            views._passes.clear()
            views._views.clear()
        start, start_cpu = time.perf_counter(), time.process_time()
        out = fn()
        wall = time.perf_counter() - start
        if wall < best:
            best, cpu = wall, time.process_time() - start_cpu
    return best, cpu, out


def line(what: str, wall: float, cpu: float) -> None:
    print(f"{what}: {wall:.2f} s wall, {cpu:.2f} s CPU (load average {os.getloadavg()[0]:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{os.cpu_count()} CPUs, torch threads {args.threads}, load average {os.getloadavg()}")
    data = load_dataset("shapes10")
    original = load_model(default_checkpoint("shapes10", "smallcnn"))
    star = data.class_names.index("star")
    reference = find(ReferenceKey.for_original(original.info, (star,), gold_standard_config(original.info, 0)))
    assert reference is not None and reference.parent == SHIPPED_DIR, "the shipped star reference is missing"
    unlearned = unlearn(original, data, ["star"]).result.model
    models = {"original": original, "repair": unlearned, "retrain": load_model(reference)}
    settings = emb.EmbeddingSettings()
    chosen = views.sample(data, settings)
    print(f"sample: {len(chosen.index)} test images; CKA batch: the first {chosen.cka_size} of them")
    wall, cpu, passes = fastest(
        args.repeats, lambda: {s: views.model_pass(m, data, chosen) for s, m in models.items()}, fresh=True
    )
    line(
        f"one forward pass per model over {len(chosen.index)} images, 3 models (features, predictions, Grams)",
        wall,
        cpu,
    )
    labels = data.test_y[chosen.index].numpy()
    feats = {s: p.features for s, p in passes.items()}
    wall, cpu, shared = fastest(args.repeats, lambda: emb.shared_features(feats, labels != star, "original"))
    line("alignment (Procrustes onto the original)", wall, cpu)
    wall, cpu, _ = fastest(args.repeats, lambda: emb.project(shared, settings))
    line(f"PCA projection of the union ({3 * len(chosen.index)} points)", wall, cpu)
    wall, cpu, _ = fastest(args.repeats, lambda: emb.whereabouts(shared, labels, [star], settings.inside))
    line("the sentence's clusters", wall, cpu)
    wall, cpu, result = fastest(args.repeats, lambda: views.embedding_of(models, data, [star], settings), fresh=True)
    line("embedding with PCA from scratch (passes included)", wall, cpu)
    views._views.clear()
    original_pass = views.model_pass(original, data, chosen)  # the original's weights never change: kept
    views._passes.clear()
    views._passes.get(original_pass.key, lambda: original_pass)
    start, start_cpu = time.perf_counter(), time.process_time()
    views.embedding_of(models, data, [star], settings)
    line(
        "embedding with PCA, the original's pass cached (a new run)",
        time.perf_counter() - start,
        time.process_time() - start_cpu,
    )
    wall, cpu, _ = fastest(args.repeats, lambda: views.embedding_of(models, data, [star], settings))
    line("embedding with PCA, cached (a second look)", wall, cpu)
    titles = {"original": "original model", "repair": "unlearned model", "retrain": "retrained model"}
    print("sentence:", emb.sentence(result, [star], data.class_names, titles))
    wall, cpu, cka = fastest(args.repeats, lambda: views.layer_cka(models, data), fresh=True)
    line(f"linear CKA of every layer, 3 models, {chosen.cka_size} images, from scratch (passes included)", wall, cpu)
    wall, cpu, cka = fastest(args.repeats, lambda: views.layer_cka(models, data))
    line("linear CKA after the embedding (the passes' Gram matrices)", wall, cpu)
    for other, values in cka.items():
        print(
            f"  vs {other}: " + " ".join(f"{d['cka']:.2f}" for d in values),
            f"(mean {np.mean([d['cka'] for d in values]):.3f})",
        )
    umap_settings = emb.EmbeddingSettings(method="umap")
    start, start_cpu = time.perf_counter(), time.process_time()
    emb.project(shared, umap_settings)
    line(
        "UMAP projection, first call in this process (numba: loaded from its cache, or compiled)",
        time.perf_counter() - start,
        time.process_time() - start_cpu,
    )
    wall, cpu, _ = fastest(args.repeats, lambda: emb.project(shared, umap_settings))
    line(f"UMAP projection, warm ({umap_settings.epochs} epochs)", wall, cpu)
    wall, cpu, result = fastest(
        args.repeats, lambda: views.embedding_of(models, data, [star], umap_settings), fresh=True
    )
    line("embedding with UMAP from scratch (passes included, warm)", wall, cpu)
    print("sentence (UMAP run; measured in the feature space):", emb.sentence(result, [star], data.class_names, titles))


if __name__ == "__main__":
    main()
