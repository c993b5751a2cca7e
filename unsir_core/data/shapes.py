"""Shapes-10: the embedded default data set, generated locally and deterministically from a seed.

Ten shape classes, each drawn at a random colour, position, scale and rotation on a two-colour
gradient background with line clutter and pixel noise, rendered at 64x64 and box-filtered to 32x32
RGB (anti-aliased edges). The object sits somewhere else in every image, so GradCAM heatmaps have
something to find. Evidence (2-core CPU): 12,500 images generate in about 1 s; the shipped small CNN
reaches about 93-96% test accuracy, not 100% (see README).
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F

from unsir_core.common.files import atomic_write, sweep_stale_temps
from unsir_core.common.paths import data_root
from unsir_core.data.bundle import ImageData, channel_stats

CLASS_NAMES = ("circle", "square", "triangle", "cross", "star", "ring", "crescent", "heart", "arrow", "L-shape")
VERSION = 1  # bump when the rendering changes, so stale disk caches are not reused
SUPERSAMPLE = 2  # render at 2x and box-filter down: anti-aliased edges


def _inside(cls: int, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mask of the unit-size shape `cls` at local coordinates x, y ([n, H, W] each, shape centred at 0)."""
    r = torch.sqrt(x * x + y * y)
    if cls == 0:  # circle
        return r < 0.9
    if cls == 1:  # square
        return torch.maximum(x.abs(), y.abs()) < 0.72
    if cls == 2:  # equilateral triangle: inside three half-planes
        out = torch.ones_like(x, dtype=torch.bool)
        for angle in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6):
            out &= x * math.cos(angle) + y * math.sin(angle) < 0.5
        return out
    if cls == 3:  # cross (plus sign)
        return ((x.abs() < 0.27) & (y.abs() < 0.92)) | ((y.abs() < 0.27) & (x.abs() < 0.92))
    if cls == 4:  # five-pointed star
        phi = torch.atan2(y, x)
        return r < 0.4 + 0.55 * ((1 + torch.cos(5 * phi)) / 2) ** 2
    if cls == 5:  # ring
        return (r > 0.55) & (r < 0.92)
    if cls == 6:  # crescent: a disc minus a shifted disc
        return (r < 0.9) & (torch.sqrt((x - 0.42) ** 2 + y * y) > 0.72)
    if cls == 7:  # heart: (u^2 + v^2 - 1)^3 - u^2 v^3 < 0
        u, v = x * 1.3, -y * 1.3 + 0.25
        return (u * u + v * v - 1) ** 3 - u * u * v**3 < 0
    if cls == 8:  # arrow: shaft plus head
        shaft = (y.abs() < 0.17) & (x > -0.9) & (x < 0.1)
        head = (x >= 0.0) & (x < 0.9) & (y.abs() < (0.9 - x) * 0.75)
        return shaft | head
    if cls == 9:  # L-shape
        upright = (x > -0.75) & (x < -0.3) & (y > -0.85) & (y < 0.85)
        foot = (x > -0.75) & (x < 0.75) & (y > 0.4) & (y < 0.85)
        return upright | foot
    raise ValueError(f"no shape {cls}")


def _grid(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates in [-1, 1]: (gx, gy), each [size, size]."""
    grid = (torch.arange(size) + 0.5) / size * 2 - 1
    gy, gx = torch.meshgrid(grid, grid, indexing="ij")
    return gx, gy


def _render(labels: torch.Tensor, g: torch.Generator, size: int) -> torch.Tensor:
    """uint8 [n, 3, size, size] images of the shapes `labels` [n].

    Background and clutter are drawn at `size`; the object's mask at SUPERSAMPLE x `size`, box-filtered
    into an anti-aliased alpha (the costly part stays small).
    """
    n = len(labels)
    rand = lambda *shape: torch.rand(*shape, generator=g)  # noqa: E731
    gx, gy = _grid(size)

    # Background: a linear gradient between two random colours, in a random direction.
    c0, c1 = rand(n, 3, 1, 1), rand(n, 3, 1, 1)
    d = rand(n) * 2 * math.pi
    t = ((gx * torch.cos(d)[:, None, None] + gy * torch.sin(d)[:, None, None]) * 0.5 + 0.5)[:, None]
    img = c0 + (c1 - c0) * t  # [n, 3, size, size]

    # Clutter: three thin line segments of random colour (they resemble no class).
    for _ in range(3):
        p = rand(n, 2) * 2 - 1
        a = rand(n) * math.pi
        dx, dy = torch.cos(a)[:, None, None], torch.sin(a)[:, None, None]
        rx, ry = gx - p[:, 0, None, None], gy - p[:, 1, None, None]
        along, across = rx * dx + ry * dy, (-rx * dy + ry * dx).abs()
        seg = (across < 0.03 + rand(n, 1, 1) * 0.03) & (along.abs() < 0.15 + rand(n, 1, 1) * 0.3)
        img = torch.where(seg[:, None], rand(n, 3, 1, 1), img)

    # The object: random position, scale and rotation; colour contrasting with the background.
    scale = 0.25 + rand(n) * 0.27
    centre = (rand(n, 2) * 2 - 1) * (0.95 - scale)[:, None]
    theta = rand(n) * 2 * math.pi
    hx, hy = _grid(size * SUPERSAMPLE)
    cos, sin = torch.cos(theta)[:, None, None], torch.sin(theta)[:, None, None]
    rx, ry = hx - centre[:, 0, None, None], hy - centre[:, 1, None, None]
    lx, ly = (rx * cos + ry * sin) / scale[:, None, None], (-rx * sin + ry * cos) / scale[:, None, None]
    mask = torch.zeros(n, size * SUPERSAMPLE, size * SUPERSAMPLE)
    for cls in labels.unique().tolist():
        sel = labels == cls
        mask[sel] = _inside(cls, lx[sel], ly[sel]).float()
    alpha = F.avg_pool2d(mask[:, None], SUPERSAMPLE)  # [n, 1, size, size], anti-aliased
    fg = rand(n, 3, 1, 1)
    lum = lambda c: (c * torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)).sum(1, keepdim=True)  # noqa: E731
    low_contrast = (lum(fg) - lum((c0 + c1) / 2)).abs() < 0.3
    fg = torch.where(low_contrast, 1 - fg, fg)
    img = img + (fg - img) * alpha
    img = img + torch.randn(img.shape, generator=g) * 0.04  # sensor noise
    return (img.clamp(0, 1) * 255).round().to(torch.uint8)


def generate_shapes(n_train: int, n_test: int, seed: int = 0, size: int = 32, classes: int = 10) -> ImageData:
    """Generate Shapes-10 in memory: balanced classes, train and test drawn from one seeded stream.

    `classes` < 10 keeps the first shapes only (a smaller variant, named e.g. "shapes5")."""
    if not 2 <= classes <= len(CLASS_NAMES):
        raise ValueError(f"classes must be 2..{len(CLASS_NAMES)}, got {classes}")
    g = torch.Generator().manual_seed(seed)
    k = classes
    total = n_train + n_test
    labels = torch.arange(total) % k
    labels = labels[torch.randperm(total, generator=g)]
    chunks = [_render(labels[i : i + 2048], g, size) for i in range(0, total, 2048)]
    x = torch.cat(chunks)
    mean, std = channel_stats(x[:n_train])
    return ImageData(
        name=f"shapes{k}",
        class_names=CLASS_NAMES[:k],
        train_x=x[:n_train],
        train_y=labels[:n_train].long(),
        test_x=x[n_train:],
        test_y=labels[n_train:].long(),
        mean=mean,
        std=std,
    )


@functools.lru_cache(maxsize=4)
def load_shapes(seed: int = 0, n_train: int = 10_000, n_test: int = 2_500) -> ImageData:
    """Shapes-10 from the disk cache ($UNSIR_DATA_ROOT/shapes10), generating it on first use."""
    from safetensors.torch import load_file, save_file

    path = data_root() / "shapes10" / f"shapes10-v{VERSION}-seed{seed}-{n_train}-{n_test}.safetensors"
    if path.parent.is_dir():
        sweep_stale_temps(path.parent)  # a cache write killed mid-way left a 45 MB temporary file
    if path.exists():
        try:
            t = load_file(str(path))
            mean, std = channel_stats(t["train_x"])
            return ImageData("shapes10", CLASS_NAMES, t["train_x"], t["train_y"], t["test_x"], t["test_y"], mean, std)
        except Exception:  # a damaged cache is regenerated, never trusted
            path.unlink(missing_ok=True)
    data = generate_shapes(n_train, n_test, seed)
    tensors = {"train_x": data.train_x, "train_y": data.train_y, "test_x": data.test_x, "test_y": data.test_y}
    try:
        atomic_write(path, lambda tmp: save_file(tensors, str(tmp)))
    except OSError:  # a read-only home still gets the data, just not cached
        pass
    return data
