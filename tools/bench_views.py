"""Time the views of issue 22 on the default (Shapes-10, shipped Small CNN, forget star): the shared embedding of
2,000 test images under the original, unlearned and retrained models with PCA and with UMAP, and layer-wise CKA.

    python tools/bench_views.py [--repeats 3]

Prints the fastest of `--repeats` timings of each step, and the sentence. The features (one forward pass per
model) are computed once per model and cached by the dashboard; "embedding" is features + alignment + projection
+ the sentence's clusters, from scratch. UMAP's first call in a process also compiles umap-learn's numba code:
printed apart.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from unsir_core import default_checkpoint, load_dataset, load_model, unlearn  # noqa: E402
from unsir_core.checkpoints.references import SHIPPED_DIR, ReferenceKey, find  # noqa: E402
from unsir_core.metrics import embedding as emb  # noqa: E402
from unsir_core.metrics.cka import layer_cka  # noqa: E402
from unsir_core.metrics.views import cka_pairs  # noqa: E402
from unsir_core.training.train import gold_standard_config  # noqa: E402


def fastest(repeats: int, fn) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(2)
    data = load_dataset("shapes10")
    original = load_model(default_checkpoint("shapes10", "smallcnn"))
    star = data.class_names.index("star")
    reference = find(ReferenceKey.for_original(original.info, (star,), gold_standard_config(original.info, 0)))
    assert reference is not None and reference.parent == SHIPPED_DIR, "the shipped star reference is missing"
    unlearned = unlearn(original, data, ["star"]).result.model
    models = {"original": original, "repair": unlearned, "retrain": load_model(reference)}
    settings = emb.EmbeddingSettings()
    index = emb.stratified_sample(data.test_y, data.num_classes, settings.points, settings.seed)
    labels = data.test_y[index].numpy()
    retain = labels != star
    x = data.test_x[index]
    t, (feats, _) = fastest(args.repeats, lambda: emb.features_and_predictions(models, x))
    print(f"features of {len(index)} test images under 3 models (one forward pass each): {t:.2f} s")
    t, shared = fastest(args.repeats, lambda: emb.shared_features(feats, retain, "original"))
    print(f"alignment (Procrustes onto the original): {t:.3f} s")
    t, _ = fastest(args.repeats, lambda: emb.project(shared, settings))
    print(f"PCA projection of the union ({3 * len(index)} points): {t:.3f} s")
    t, _ = fastest(args.repeats, lambda: emb.whereabouts(shared, labels, [star], settings.inside))
    print(f"the sentence's clusters: {t:.3f} s")
    t, result = fastest(args.repeats, lambda: emb.embed(models, data, [star], settings))
    print(f"embedding with PCA from scratch (features included): {t:.2f} s")
    titles = {"original": "original model", "repair": "unlearned model", "retrain": "retrained model"}
    print("sentence:", emb.sentence(result, [star], data.class_names, titles))
    umap_settings = emb.EmbeddingSettings(method="umap")
    start = time.perf_counter()
    emb.project(shared, umap_settings)
    print(f"UMAP projection, first call in this process (numba compiles): {time.perf_counter() - start:.1f} s")
    t, _ = fastest(args.repeats, lambda: emb.project(shared, umap_settings))
    print(f"UMAP projection, warm ({umap_settings.epochs} epochs): {t:.1f} s")
    t, result = fastest(args.repeats, lambda: emb.embed(models, data, [star], umap_settings))
    print(f"embedding with UMAP from scratch (features included, warm): {t:.1f} s")
    print("sentence (UMAP run; measured in the feature space):", emb.sentence(result, [star], data.class_names, titles))
    t, cka = fastest(args.repeats, lambda: layer_cka(models, cka_pairs(list(models)), data))
    layers = len(cka["original"])
    print(f"linear CKA of {layers} layers, unlearned vs original and vs retrained (3 models' Gram matrices): {t:.2f} s")
    for other, values in cka.items():
        print(
            f"  vs {other}: " + " ".join(f"{d.cka:.2f}" for d in values),
            f"(mean {np.mean([d.cka for d in values]):.3f})",
        )


if __name__ == "__main__":
    main()
