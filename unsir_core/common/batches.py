"""Index batching over device-resident uint8 data, and augmentation on the device (no DataLoader).

As in airbench: the whole split sits on the device as uint8; a batch is an index tensor; class
subsets are label masks; flips and crops are per-sample masks and gathers, with no host round trip.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F


def index_batches(
    n: int, batch_size: int, generator: torch.Generator, device: torch.device, drop_last: bool = False
) -> Iterator[torch.Tensor]:
    """Shuffled index batches over range(n); the permutation is drawn on the CPU for determinism."""
    perm = torch.randperm(n, generator=generator).to(device)
    stop = n - n % batch_size if drop_last and n >= batch_size else n
    for i in range(0, stop, batch_size):
        yield perm[i : i + batch_size]


def num_batches(n: int, batch_size: int, drop_last: bool = False) -> int:
    return n // batch_size if drop_last and n >= batch_size else -(-n // batch_size)


def flip_and_crop(x: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """Random horizontal flip and random crop with `pad` pixels of reflection padding.

    x: uint8 [B, C, H, W] on any device -> same shape; per-sample choices come from `generator`.
    """
    b, _, h, w = x.shape
    flips = (torch.rand(b, generator=generator) < 0.5).to(x.device)
    x = torch.where(flips.view(b, 1, 1, 1), x.flip(-1), x)
    shifts = torch.randint(0, 2 * pad + 1, (2, b), generator=generator).to(x.device)
    padded = F.pad(x.float(), (pad, pad, pad, pad), mode="reflect")  # [B, C, H+2p, W+2p]
    rows = (shifts[0].view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)
    cols = (shifts[1].view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)
    out = padded.gather(2, rows.expand(b, x.shape[1], h, padded.shape[-1]))
    out = out.gather(3, cols.expand(b, x.shape[1], h, w))
    return out.to(x.dtype)
