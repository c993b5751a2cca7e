"""Layer-wise weight distance between two models of one architecture (paper Fig. 2 and Table 7).

A layer is a module that owns parameters directly (conv, linear, batchnorm, layernorm, ...); its
parameters are concatenated into one vector w. Per layer: `l2 = ||w_a - w_b||_2` and
`normalized = l2 / ||w_b||_2`, with b the reference (usually the original model). The paper compares
original -> unlearned with original -> retrained on a log scale. Buffers (BatchNorm running
statistics) are not parameters and are left out.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from unsir_core.common.errors import ConfigError
from unsir_core.models.classifier import Classifier

Model = Classifier | nn.Module


@dataclass(frozen=True)
class LayerDistance:
    name: str  # module path, e.g. "features.0.0"; for the root module, its parameter names (ViT class_token)
    l2: float  # ||w_a - w_b||_2 over the layer's parameters
    normalized: float  # l2 / ||w_b||_2 (0 when both are 0, nan when only the reference is all zeros)
    n_params: int  # number of scalar parameters in the layer

    def to_dict(self) -> dict:
        return asdict(self)


def _net(model: Model) -> nn.Module:
    return model.net if isinstance(model, Classifier) else model


def _check_same_parameters(a: nn.Module, b: nn.Module) -> None:
    """ConfigError naming the first parameter whose name or shape differs between a and b."""
    shapes_a = [(n, tuple(p.shape)) for n, p in a.named_parameters()]
    shapes_b = [(n, tuple(p.shape)) for n, p in b.named_parameters()]
    if shapes_a == shapes_b:
        return
    first = next(((x, y) for x, y in zip(shapes_a, shapes_b) if x != y), None)
    where = (
        f"first difference: {first[0][0]} {first[0][1]} vs {first[1][0]} {first[1][1]}"
        if first
        else f"{len(shapes_a)} vs {len(shapes_b)} parameter tensors"
    )
    raise ConfigError(
        f"The two models have different parameters ({where}). Weight distance needs two models of the same "
        "architecture and width: compare an unlearned or retrained model with the original it came from."
    )


def layers(net: nn.Module) -> list[tuple[str, list[str]]]:
    """(module path, full names of its own parameters) for every module owning parameters directly."""
    out = []
    for path, module in net.named_modules():
        own = [f"{path}.{n}" if path else n for n, _ in module.named_parameters(recurse=False)]
        if own:
            out.append((path, own))
    return out


@torch.no_grad()
def layer_distances(a: Model, b: Model) -> list[LayerDistance]:
    """Per-layer distance of `a` from the reference `b`, in network (registration) order.

    Neither model is changed; b's parameters are compared on a's device.
    """
    net_a, net_b = _net(a), _net(b)
    _check_same_parameters(net_a, net_b)
    params_a, params_b = dict(net_a.named_parameters()), dict(net_b.named_parameters())
    names, sizes, diffs, refs = [], [], [], []
    for path, own in layers(net_a):
        wa = torch.cat([params_a[n].flatten().float() for n in own])  # [P]
        wb = torch.cat([params_b[n].flatten().float().to(wa.device) for n in own])  # [P]
        names.append(layer_name(path, own))
        sizes.append(wa.numel())
        diffs.append((wa - wb).norm())
        refs.append(wb.norm())
    if not names:
        return []
    l2s, ref_norms = torch.stack(diffs).tolist(), torch.stack(refs).tolist()  # one host transfer each
    return [LayerDistance(n, l2, _ratio(l2, ref), size) for n, l2, ref, size in zip(names, l2s, ref_norms, sizes)]


def layer_name(path: str, own: list[str]) -> str:
    """A layer's name: its module path; the root's own parameters (ViT class_token) name themselves."""
    return path or ",".join(own)


def _ratio(l2: float, ref: float) -> float:
    if ref > 0:
        return l2 / ref
    return 0.0 if l2 == 0 else float("nan")


def total_distance(a: Model, b: Model) -> float:
    """||w_a - w_b||_2 over all parameters of the two models (paper Table 7)."""
    return sum(d.l2**2 for d in layer_distances(a, b)) ** 0.5
