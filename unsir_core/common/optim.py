"""Optimisers with per-layer learning rates (the paper's pretrained settings give the head its own)."""

from __future__ import annotations

import torch
from torch import nn

from unsir_core.common.errors import ConfigError


def param_groups(net: nn.Module, head: str, lr: float, head_lr: float | None) -> list[dict]:
    """Two groups when `head_lr` is set: the head's parameters (prefix `head`) and the body's."""
    params = [(n, p) for n, p in net.named_parameters() if p.requires_grad]
    if head_lr is None:
        return [{"params": [p for _, p in params], "lr": lr}]
    in_head = [p for n, p in params if n.startswith(head + ".")]
    body = [p for n, p in params if not n.startswith(head + ".")]
    return [{"params": body, "lr": lr}, {"params": in_head, "lr": head_lr}]


def make_optimizer(name: str, groups: list[dict], weight_decay: float = 0.0) -> torch.optim.Optimizer:
    if name == "adam":
        return torch.optim.AdamW(groups, weight_decay=weight_decay) if weight_decay else torch.optim.Adam(groups)
    if name == "sgd":
        return torch.optim.SGD(groups, momentum=0.9, nesterov=True, weight_decay=weight_decay)
    raise ConfigError(f"Unknown optimizer {name!r}: use 'adam' or 'sgd'.")


def anneal_schedule(opt: torch.optim.Optimizer, total: int, fraction: float) -> torch.optim.lr_scheduler.LambdaLR:
    """Constant learning rates, then a linear fall over the last `fraction` of `total` steps.

    Step s trains at min(1, (total - s) / (n + 1)) x each group's lr, n = round(fraction x total):
    the last step still learns (1 / (n + 1)), none is wasted at 0.
    """
    n = round(fraction * total)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: min(1.0, (total - step) / (n + 1)))


def frozen_names(net: nn.Module, prefixes: tuple[str, ...]) -> set[str]:
    """Names of the parameters under `prefixes` (e.g. "features.0"); a prefix that names none is an error."""
    names = [n for n, _ in net.named_parameters()]
    frozen = set()
    for prefix in prefixes:
        under = {n for n in names if n == prefix or n.startswith(prefix + ".")}
        if not under:
            layers = ", ".join(dict.fromkeys(n.rsplit(".", 1)[0] for n in names))
            raise ConfigError(f"Cannot freeze {prefix!r}: no parameter has that name. This model's layers: {layers}.")
        frozen |= under
    if names and len(frozen) == len(names):
        raise ConfigError(
            f"Cannot freeze {', '.join(prefixes)}: that is every parameter, so nothing would be "
            "trained. Leave at least the classifier head out."
        )
    return frozen


def freeze_prefixes(net: nn.Module, prefixes: tuple[str, ...]) -> None:
    """Train every parameter except those under `prefixes`.

    A frozen parameter has requires_grad=False, so autograd skips its gradient and, when the frozen
    layers come first (the stem), the whole backward pass below them: on a CPU that is most of the
    cost of the full-resolution layers.
    """
    frozen = frozen_names(net, prefixes)
    for name, p in net.named_parameters():
        p.requires_grad_(name not in frozen)
