"""Real handwritten digits that no one here made (scikit-learn's copy of the UCI optical digits, 1,797 images of
8x8 grey levels 0-16, shipped inside the scikit-learn package), written to disk in two formats a user brings:

- `write_digits_folder`: an image folder with one subfolder per digit (PNG), read by `load_image_folder`;
- `write_digits_mnist`: torchvision's MNIST on-disk format (idx-ubyte files in `<root>/mnist/MNIST/raw/`) at
  28x28, any size: each image is a random affine view (shift, rotation, scale, stroke noise) of one digit, the
  training images from the first 80% of the digits and the test images from the rest, so no test digit is seen in
  training. Read by `load_dataset("mnist", root, download=False)`.

The robustness matrix keeps both out of the auto recipe's tuning (see recipe.py).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def _digits() -> tuple[np.ndarray, np.ndarray]:
    """uint8 [1797, 8, 8] images scaled to 0-255 and int64 [1797] labels, in scikit-learn's order."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return (bunch.images * (255 / 16)).round().astype(np.uint8), bunch.target.astype(np.int64)


def write_digits_folder(root: Path) -> Path:
    """`root/<digit>/<i>.png` for every digit image; returns `root`."""
    from PIL import Image

    images, labels = _digits()
    for i, (image, label) in enumerate(zip(images, labels)):
        folder = root / str(label)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{i:04d}.png")
    return root


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: big-endian magic (0, 0, type 0x08 = ubyte, ndim), then each dimension, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _views(images: np.ndarray, n: int, g: torch.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n random affine views, 28x28 uint8, of `images` [M, 8, 8]; returns (views, index of the source digit)."""
    src = torch.randint(len(images), (n,), generator=g)
    x = torch.from_numpy(images).float()[src, None] / 255  # [n, 1, 8, 8]
    x = F.interpolate(x, size=20, mode="bilinear", align_corners=False)
    x = F.pad(x, (4, 4, 4, 4))  # [n, 1, 28, 28], digit centred as in MNIST
    angle = (torch.rand(n, generator=g) - 0.5) * math.radians(30)
    scale = 0.85 + torch.rand(n, generator=g) * 0.3
    shift = (torch.rand(n, 2, generator=g) - 0.5) * 0.3
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False) + torch.randn(x.shape, generator=g) * 0.05
    return (x.clamp(0, 1) * 255).round().to(torch.uint8)[:, 0].numpy(), src.numpy()


def write_digits_mnist(root: Path, n_train: int = 60_000, n_test: int = 10_000, seed: int = 0) -> Path:
    """The four MNIST idx files under `root/mnist/MNIST/raw/`; returns `root` (pass it as the data root)."""
    images, labels = _digits()
    split = int(0.8 * len(images))
    g = torch.Generator().manual_seed(seed)
    raw = root / "mnist" / "MNIST" / "raw"
    for prefix, part, n in (("train", slice(None, split), n_train), ("t10k", slice(split, None), n_test)):
        views, src = _views(images[part], n, g)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", views)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels[part][src])
    return root
