"""`ImageData`: a whole image-classification data set as uint8 tensors, ready to live on one device.

Images are kept as uint8 [N, C, H, W] (4x smaller than float) and batched by index; class subsets are
label masks, as in airbench. Normalisation happens per batch in `batches.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

import torch

from unsir_core.common.errors import ConfigError


@dataclass(frozen=True)
class ImageData:
    name: str  # registry name of the data set, e.g. "shapes10"
    class_names: tuple[str, ...]  # index -> human-readable class name
    train_x: torch.Tensor  # [N, C, H, W] uint8
    train_y: torch.Tensor  # [N] int64
    test_x: torch.Tensor  # [M, C, H, W] uint8
    test_y: torch.Tensor  # [M] int64
    mean: tuple[float, ...]  # per-channel mean of train_x / 255
    std: tuple[float, ...]  # per-channel std of train_x / 255

    def __post_init__(self):
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if x.dtype != torch.uint8 or x.ndim != 4:
                raise ValueError(f"{split}_x must be uint8 [N, C, H, W], got {x.dtype} {tuple(x.shape)}")
            if y.shape != (x.shape[0],):
                raise ValueError(f"{split}_y must have shape ({x.shape[0]},), got {tuple(y.shape)}")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.train_x.device

    def to(self, device: torch.device | str) -> ImageData:
        device = torch.device(device)
        if self.train_x.device == device:
            return self
        return replace(
            self,
            train_x=self.train_x.to(device),
            train_y=self.train_y.to(device),
            test_x=self.test_x.to(device),
            test_y=self.test_y.to(device),
        )

    def resolve_classes(self, classes: Iterable[int | str]) -> list[int]:
        """Class names or indices (ints or digit strings) -> sorted unique indices; clear error if unknown."""
        lookup = {name.lower(): i for i, name in enumerate(self.class_names)}
        out = set()
        for c in classes:
            if isinstance(c, str) and c in self.class_names:  # exact first: names may hold edge spaces
                out.add(self.class_names.index(c))
            elif isinstance(c, str) and c.strip().lower() in lookup:
                out.add(lookup[c.strip().lower()])
            elif isinstance(c, int) or (isinstance(c, str) and c.strip().lstrip("-").isdecimal()):
                i = int(c)
                if not 0 <= i < self.num_classes:
                    raise ConfigError(
                        f"Class index {i} is out of range: {self.name} has classes 0..{self.num_classes - 1}."
                    )
                out.add(i)
            else:
                raise ConfigError(f"Unknown class {c!r} in {self.name}. Known classes: {', '.join(self.class_names)}.")
        return sorted(out)

    def forget_classes(self, classes: Iterable[int | str], already_forgotten: Sequence[int] = ()) -> list[int]:
        """Validate a forget request: not empty, and at least one class must remain to be retained."""
        forget = self.resolve_classes(classes)
        if not forget:
            raise ConfigError("The forget set is empty: choose at least one class to forget.")
        gone = set(forget) | set(already_forgotten)
        if len(gone) >= self.num_classes:
            raise ConfigError(
                f"Forgetting {len(gone)} of {self.num_classes} classes leaves nothing to retain: "
                "keep at least one class."
            )
        return forget

    def class_mask(self, y: torch.Tensor, classes: Sequence[int]) -> torch.Tensor:
        """[N] bool: which labels are in `classes`."""
        return torch.isin(y, torch.as_tensor(list(classes), dtype=y.dtype, device=y.device))


def channel_stats(x: torch.Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of uint8 images [N, C, H, W], on the [0, 1] scale."""
    xf = x[: min(len(x), 10_000)].float().div_(255)
    mean = xf.mean(dim=(0, 2, 3))
    std = xf.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(v, 4) for v in mean.tolist()), tuple(round(v, 4) for v in std.tolist())
