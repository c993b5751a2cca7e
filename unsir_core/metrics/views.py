"""The views of issue 22 on demand: the shared embedding and the layer-wise CKA of a set of models, cached.

A run does not compute them (`UnlearningRequest.views` is off by default): the Results page, Compare, the report
and `evaluate --embedding` ask for them, and a second look is instant.

- One forward pass per model (`model_pass`) over the embedding's sample gives its penultimate features and
  predictions and, on its first batch (the CKA batch: CKA_BATCH images of the sample, the same number per
  class), the Gram matrices of every layer; CKA costs no pass of its own.
- A pass is cached by the model's fingerprint on the sample (`evaluate.fingerprint`: weights, input settings,
  device and images), so an original, whose weights never change, is passed once per process whatever the run.
- The views of a set of models are cached by their fingerprints, the forget classes and the settings: the same
  (original, unlearned, retrained) weights, data set and sample give the same dict without any work.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from unsir_core.common.device import memory_format
from unsir_core.data import ImageData
from unsir_core.metrics.cka import CKA_BATCH, compare_layers, recording_grams
from unsir_core.metrics.embedding import Embedding, EmbeddingSettings, arrange, stratified_sample
from unsir_core.metrics.evaluate import fingerprint
from unsir_core.models import get_spec
from unsir_core.models.classifier import Classifier

EMBEDDED = ("original", "repair", "retrain")  # the models an embedding shows side by side, when the run has them
UNLEARNED = "repair"  # the model CKA compares with each of the others
PASS_BATCH = 256  # images per forward batch on the CPU (one batch more than the CKA batch's 250)
PASSES_KEPT = 8  # model passes kept per process: ~1 MB of features and ~3 MB of Gram matrices each (Small CNN)
VIEWS_KEPT = 16  # views kept per process: about 200 KB each (2,000 points x 3 models)


class Kept:
    """A small thread-safe least-recently-used cache: `get(key, compute)` computes once per key."""

    def __init__(self, size: int):
        self.size, self.items, self.lock = size, OrderedDict(), threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = compute()  # outside the lock: another key need not wait for this one
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


_passes = Kept(PASSES_KEPT)
_views = Kept(VIEWS_KEPT)


@dataclass(frozen=True)
class ModelPass:
    key: str  # the model's fingerprint on the sample (`evaluate.fingerprint`): what the pass depends on
    features: np.ndarray  # [N, D] penultimate features (the classifier head's input) of the sample, float32
    predictions: list[int]  # the class the model predicts for each image of the sample
    grams: dict[str, torch.Tensor]  # layer name -> centred Gram matrix [n, n] on the CKA batch (the first n images)


@dataclass(frozen=True)
class Sample:
    index: torch.Tensor  # test-split indices of the embedding's points, ascending
    order: torch.Tensor  # positions in `index`: the CKA batch first, then the rest, as the pass runs them
    cka_size: int  # images of the CKA batch (the first `cka_size` of `order`)


def sample(data: ImageData, settings: EmbeddingSettings) -> Sample:
    """The embedding's stratified sample, and the CKA batch: CKA_BATCH of its images, the same number per class."""
    index = stratified_sample(data.test_y, data.num_classes, settings.points, settings.seed)
    labels = data.test_y.cpu()[index]
    first = stratified_sample(labels, data.num_classes, CKA_BATCH, settings.seed)
    rest = torch.ones(len(index), dtype=torch.bool)
    rest[first] = False
    return Sample(index, torch.cat([first, rest.nonzero().flatten()]), len(first))


@torch.inference_mode()
def _pass(model: Classifier, x: torch.Tensor, cka_size: int) -> tuple[np.ndarray, list[int], dict[str, torch.Tensor]]:
    """One forward pass over uint8 images x [N, C, H, W] in eval mode: the penultimate features, the predicted
    classes, and every layer's Gram matrix on x[:cka_size]."""
    net, device = model.net, model.device
    head = net.get_submodule(get_spec(model.info.arch).head)
    features: list[torch.Tensor] = []
    logits: list[torch.Tensor] = []
    grams: dict[str, torch.Tensor] = {}
    on = [True]
    starts = [0, *range(cka_size, len(x), PASS_BATCH)] if cka_size else list(range(0, len(x), PASS_BATCH))
    hook = head.register_forward_pre_hook(lambda _m, args: features.append(args[0].flatten(1).float().cpu()))
    was_training = net.training
    net.eval()
    try:
        with recording_grams(net, grams, on):
            for i, (start, end) in enumerate(zip(starts, [*starts[1:], len(x)])):
                on[0] = i == 0 and cka_size > 0
                inputs = model.prepare(x[start:end].to(device)).contiguous(memory_format=memory_format(device))
                logits.append(net(inputs).float().cpu())
    finally:
        hook.remove()
        net.train(was_training)
    return torch.cat(features).numpy(), torch.cat(logits).argmax(1).tolist(), grams


def model_pass(model: Classifier, data: ImageData, chosen: Sample) -> ModelPass:
    """The model's pass over the sample, in the sample's (ascending) order, Gram matrices on the CKA batch; cached."""
    x = data.test_x[chosen.index.to(data.test_x.device)][chosen.order.to(data.test_x.device)]
    key = fingerprint(model, x)

    def compute() -> ModelPass:
        features, predictions, grams = _pass(model, x, chosen.cka_size)
        back = torch.argsort(chosen.order)  # from pass order back to the sample's order
        return ModelPass(key, features[back.numpy()], [predictions[i] for i in back.tolist()], grams)

    return _passes.get(key, compute)


def cka_pairs(stages: Sequence[str], unlearned: str = UNLEARNED) -> dict[str, tuple[str, str]]:
    """The `unlearned` model against the original and the retrained model, keyed by the other model's stage."""
    if unlearned not in stages:
        return {}
    return {other: (unlearned, other) for other in ("original", "retrain") if other in stages}


def embedding_of(
    models: Mapping[str, Classifier], data: ImageData, forget: Sequence[int], settings: EmbeddingSettings
) -> Embedding:
    """The shared embedding of the sample under `models` (by stage), from their cached passes; cached itself."""
    chosen = sample(data, settings)
    passes = {s: model_pass(m, data, chosen) for s, m in models.items()}
    key = ("embedding", tuple((s, p.key) for s, p in passes.items()), tuple(forget), settings)

    def compute() -> Embedding:
        labels = data.test_y.cpu()[chosen.index].numpy()
        feats = {s: p.features for s, p in passes.items()}
        return arrange(feats, {s: p.predictions for s, p in passes.items()}, chosen.index, labels, forget, settings)

    return _views.get(key, compute)


def layer_cka(
    models: Mapping[str, Classifier], data: ImageData, unlearned: str = UNLEARNED, seed: int = 0
) -> dict[str, list[dict]]:
    """{other stage: [LayerCka dicts]}: the `unlearned` model against the original and the retrained model, on
    the CKA batch of the seed's sample (the Gram matrices of the cached passes)."""
    chosen = sample(data, EmbeddingSettings(seed=seed))
    pairs = cka_pairs(list(models), unlearned)
    grams = {s: model_pass(models[s], data, chosen).grams for s in dict.fromkeys(s for p in pairs.values() for s in p)}
    return {s: [d.to_dict() for d in layers] for s, layers in compare_layers(grams, pairs).items()}


def run_views(models: Mapping[str, Classifier], data: ImageData, forget: Sequence[int], seed: int) -> dict[str, Any]:
    """{"embedding": Embedding.to_dict(), "cka": {stage: [LayerCka dicts]}} for a run's models (by stage): what
    the report draws (PCA)."""
    shown = {s: models[s] for s in EMBEDDED if s in models}
    embedding = embedding_of(shown, data, forget, EmbeddingSettings(seed=seed))
    return {"embedding": embedding.to_dict(), "cka": layer_cka(shown, data, UNLEARNED, seed)}
