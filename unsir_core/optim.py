"""Optimisers with per-layer learning rates (the paper's pretrained settings give the head its own)."""
from __future__ import annotations

import torch
from torch import nn

from .errors import ConfigError


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
