"""Layer-wise linear CKA (Kornblith et al. 2019): how alike two models' representations are, layer by layer.

For the activations X [n, p] and Y [n, q] of one layer of two models on the same n inputs, centred,
CKA = ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F), computed through the n x n Gram matrices
(K = X X^T, L = Y Y^T: CKA = <K, L>_F / (||K||_F ||L||_F)), so a wide convolution costs no p x q product.
1 = the same representation up to rotation and scale; it falls as a layer's representation changes.
The layers are those of the weight distance (`weights.layers`: every module that owns parameters), so
both views share one x axis. The batch is fixed: the same stratified test images for every model
(`views.py` takes them from the embedding's sample and records the Gram matrices in the embedding's own
forward pass, so CKA costs no pass of its own).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass

import torch
from torch import nn

from unsir_core.common.errors import ConfigError
from unsir_core.metrics.weights import layer_name, layers

CKA_BATCH = 250  # test images of the fixed batch (the same number per class): Gram matrices of 250 x 250


@dataclass(frozen=True)
class LayerCka:
    name: str  # module path, as in the weight distance ("features.0.0")
    cka: float  # linear CKA in [0, 1]; 1 = the same representation up to rotation and scale

    def to_dict(self) -> dict:
        return asdict(self)


@contextmanager
def recording_grams(net: nn.Module, grams: dict[str, torch.Tensor], on: list[bool]) -> Iterator[None]:
    """While inside: each forward pass with `on[0]` True stores, per parameter-owning layer of `net`, the centred
    Gram matrix [n, n] (float32, CPU) of that layer's output on the batch into `grams` (keyed by layer name)."""
    names = {path: layer_name(path, own) for path, own in layers(net)}

    def hook(path: str):
        def store(_module, _inputs, output):
            if on[0] and isinstance(output, torch.Tensor):
                f = output.flatten(1).float()
                f = f - f.mean(0, keepdim=True)
                grams[names[path]] = (f @ f.T).cpu()

        return store

    handles = [net.get_submodule(path).register_forward_hook(hook(path)) for path in names]
    try:
        yield
    finally:
        for h in handles:
            h.remove()


def cka(k: torch.Tensor, l: torch.Tensor) -> float:  # noqa: E741 (the paper's name)
    """Linear CKA of two centred Gram matrices (summed in float64); nan when one representation is constant."""
    k, l = k.double(), l.double()  # noqa: E741
    denom = (k.norm() * l.norm()).item()
    return float((k * l).sum().item() / denom) if denom > 0 else float("nan")


def compare_layers(
    grams: Mapping[str, Mapping[str, torch.Tensor]], pairs: Mapping[str, tuple[str, str]]
) -> dict[str, list[LayerCka]]:
    """Per pair name: linear CKA of each layer between its two models, from their Gram matrices on one fixed
    batch (`grams`: stage -> layer name -> centred Gram matrix)."""
    missing = sorted({s for pair in pairs.values() for s in pair} - set(grams))
    if missing:
        raise ConfigError(f"CKA pairs name models that are not given: {', '.join(missing)}.")
    out = {}
    for name, (a, b) in pairs.items():
        if list(grams[a]) != list(grams[b]):
            raise ConfigError(f"{a} and {b} have different layers: CKA per layer needs one architecture and width.")
        out[name] = [LayerCka(layer, cka(grams[a][layer], grams[b][layer])) for layer in grams[a]]
    return out
