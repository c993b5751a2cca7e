"""Layer-wise linear CKA (Kornblith et al. 2019): how alike two models' representations are, layer by layer.

For the activations X [n, p] and Y [n, q] of one layer of two models on the same n inputs, centred,
CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), computed through the n x n Gram matrices
(K = X X^T, L = Y Y^T: CKA = <K, L>_F / (||K||_F ||L||_F)), so a wide convolution costs no p x q product.
1 = the same representation up to rotation and scale; it falls as a layer's representation changes.
The layers are those of the weight distance (`weights.layers`: every module that owns parameters), so
both views share one x axis. The batch is fixed: the same stratified test images for every model.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

import torch

from unsir_core.common.errors import ConfigError
from unsir_core.data import ImageData
from unsir_core.metrics.embedding import stratified_sample
from unsir_core.metrics.weights import layer_name, layers
from unsir_core.models.classifier import Classifier

CKA_BATCH = 250  # test images of the fixed batch (the same number per class): Gram matrices of 250 x 250


@dataclass(frozen=True)
class LayerCka:
    name: str  # module path, as in the weight distance ("features.0.0")
    cka: float  # linear CKA in [0, 1]; 1 = the same representation up to rotation and scale

    def to_dict(self) -> dict:
        return asdict(self)


@torch.no_grad()
def gram_matrices(model: Classifier, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Centred Gram matrices [n, n] (float64, CPU) of every parameter-owning layer's output on uint8 images x."""
    net = model.net
    names = {path: layer_name(path, own) for path, own in layers(net)}
    grams: dict[str, torch.Tensor] = {}

    def hook(path: str):
        def store(_module, _inputs, output):
            if isinstance(output, torch.Tensor):
                f = output.flatten(1).float()
                f = f - f.mean(0, keepdim=True)
                grams[names[path]] = (f @ f.T).double().cpu()  # float32 product (fast), float64 sums

        return store

    handles = [net.get_submodule(path).register_forward_hook(hook(path)) for path in names]
    was_training = net.training
    net.eval()
    try:
        net(model.prepare(x.to(model.device)))
    finally:
        for h in handles:
            h.remove()
        net.train(was_training)
    return grams


def cka(k: torch.Tensor, l: torch.Tensor) -> float:  # noqa: E741 (the paper's name)
    """Linear CKA of two centred Gram matrices; nan when one representation is constant."""
    denom = (k.norm() * l.norm()).item()
    return float((k * l).sum().item() / denom) if denom > 0 else float("nan")


def layer_cka(
    models: Mapping[str, Classifier], pairs: Mapping[str, tuple[str, str]], data: ImageData, seed: int = 0
) -> dict[str, list[LayerCka]]:
    """Per pair name: linear CKA of each layer between its two models (stages of `models`) on a fixed batch.

    Each model's Gram matrices are computed once, however many pairs it is in."""
    missing = sorted({s for pair in pairs.values() for s in pair} - set(models))
    if missing:
        raise ConfigError(f"CKA pairs name models that are not given: {', '.join(missing)}.")
    index = stratified_sample(data.test_y, data.num_classes, CKA_BATCH, seed)
    x = data.test_x[index.to(data.test_x.device)]
    grams = {s: gram_matrices(models[s], x) for s in dict.fromkeys(s for pair in pairs.values() for s in pair)}
    out = {}
    for name, (a, b) in pairs.items():
        if list(grams[a]) != list(grams[b]):
            raise ConfigError(f"{a} and {b} have different layers: CKA per layer needs one architecture and width.")
        out[name] = [LayerCka(layer, cka(grams[a][layer], grams[b][layer])) for layer in grams[a]]
    return out
