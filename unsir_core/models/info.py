"""`ModelInfo`: what a checkpoint says about its network (architecture, classes, normalisation, history),
and the checks its metadata must pass (it is untrusted input).

Torch-free, so the dashboard can read checkpoint headers (`unsir_core.checkpoints.catalog`) before any page
needs torch. `Classifier` (unsir_core.models.classifier) pairs it with the network.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from unsir_core.common.errors import CheckpointError
from unsir_core.models import IMAGENET_MEAN, IMAGENET_STD, MODELS, get_spec
from unsir_core.models.info_schema import check_details, is_int, is_number, need

if TYPE_CHECKING:
    from unsir_core.data import ImageData


@dataclass(frozen=True)
class ModelInfo:
    arch: str  # registry key in models.MODELS
    dataset: str  # data set the model was trained on
    class_names: tuple[str, ...]  # index -> name; its length is the number of outputs
    in_channels: int = 3  # image channels the first layer takes
    input_size: int = 32  # images are resized to this square size
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)  # per-channel normalisation mean ([0, 1] scale)
    std: tuple[float, ...] = (0.25, 0.25, 0.25)  # per-channel normalisation std
    width: float = 1.0  # channel multiplier the architecture was built with
    forgotten: tuple[int, ...] = ()  # classes removed: unlearned, or left out when training
    origin: str = "trained"  # "trained", "retrained", "unlearned", "imported"
    test_acc: float | None = None  # overall test accuracy in percent, when measured
    details: dict[str, Any] = field(default_factory=dict)  # training/unlearning config, history, versions

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Any) -> ModelInfo:
        """Metadata read from a checkpoint: untrusted, so every field is checked for type and bounds here,
        before anything is built from it (CheckpointError saying which field is wrong)."""
        if not isinstance(d, dict):
            raise CheckpointError("the metadata is not a JSON object.")
        known = {f for f in cls.__dataclass_fields__}
        d = {k: v for k, v in d.items() if k in known}
        for key in ("class_names", "mean", "std", "forgotten"):
            if key in d:
                need(isinstance(d[key], (list, tuple)), f"{key} must be a list")
                d[key] = tuple(d[key])
        try:
            info = cls(**d)
        except TypeError as err:  # a required field is missing
            raise CheckpointError(f"{err}.") from None
        info.check_metadata()
        return info

    def check_metadata(self) -> None:
        """Raise CheckpointError unless every field has a sane type and value (see `LIMITS`), `details` included
        (its one schema: `unsir_core.models.info_schema`)."""
        need(isinstance(self.arch, str) and self.arch in MODELS, f"unknown architecture {self.arch!r}")
        need(_text(self.dataset), f"dataset must be a short text, not {self.dataset!r}")
        names = self.class_names
        need(
            2 <= len(names) <= LIMITS["classes"] and all(_text(n) for n in names) and len(set(names)) == len(names),
            f"class_names must be 2 to {LIMITS['classes']} different non-empty names",
        )
        need(
            is_int(self.in_channels) and 1 <= self.in_channels <= LIMITS["channels"],
            f"in_channels must be 1 to {LIMITS['channels']}, not {self.in_channels!r}",
        )
        spec = MODELS[self.arch]
        need(
            is_int(self.input_size) and spec.accepts(self.input_size),
            f"input_size must be {spec.sizes_text()} for {spec.title}, not {self.input_size!r}",
        )
        for key in ("mean", "std"):
            values = getattr(self, key)
            need(
                len(values) == self.in_channels and all(_number(v) and abs(v) <= 10 for v in values),
                f"{key} must hold {self.in_channels} numbers, not {values!r}",
            )
        need(all(v > 0 for v in self.std), f"std must be positive, not {self.std!r}")
        need(
            _number(self.width) and 0 < self.width <= LIMITS["width"],
            f"width must be a number above 0 and at most {LIMITS['width']:g}, not {self.width!r}",
        )
        need(
            all(is_int(c) and 0 <= c < len(names) for c in self.forgotten) and len(set(self.forgotten)) < len(names),
            f"forgotten must list class indices below {len(names)}, not {self.forgotten!r}",
        )
        need(_text(self.origin), f"origin must be a short text, not {self.origin!r}")
        need(
            self.test_acc is None or (_number(self.test_acc) and 0 <= self.test_acc <= 100),
            f"test_acc must be a percentage from 0 to 100, not {self.test_acc!r}",
        )
        check_details(self.details, names)

    @classmethod
    def for_data(
        cls,
        arch: str,
        data: ImageData,
        width: float | None = None,
        pretrained: bool = False,
        input_size: int | None = None,
        **kw: Any,
    ) -> ModelInfo:
        """A new model's info for `data`; `input_size` None: the architecture's side."""
        spec = get_spec(arch)
        spec.check_input_size(input_size)
        mean, std = data.mean, data.std
        if pretrained:  # ImageNet weights expect ImageNet statistics
            mean = IMAGENET_MEAN[: data.channels] if data.channels == 3 else (sum(IMAGENET_MEAN) / 3,)
            std = IMAGENET_STD[: data.channels] if data.channels == 3 else (sum(IMAGENET_STD) / 3,)
        return cls(
            arch=arch,
            dataset=data.name,
            class_names=data.class_names,
            in_channels=data.channels,
            input_size=spec.input_size if input_size is None else input_size,
            mean=tuple(mean),
            std=tuple(std),
            width=spec.default_width if width is None else width,
            **kw,
        )

    def check_fits(self, data: ImageData) -> None:
        """Raise CheckpointError unless this model can classify `data` (classes and channels)."""
        if self.num_classes != data.num_classes:
            raise CheckpointError(
                f"The model has {self.num_classes} classes but {data.name} has {data.num_classes}: "
                f"choose a checkpoint trained on {data.name}, or train one."
            )
        if self.in_channels != data.channels:
            raise CheckpointError(
                f"The model takes {self.in_channels}-channel images but {data.name} has {data.channels} channels."
            )


LIMITS = {  # bounds of checkpoint metadata: generous for real models, fatal for forged ones
    "classes": 10_000,  # outputs (CIFAR-100 has 100; an image folder rarely has thousands)
    "channels": 4,  # grey, RGB, RGBA
    "width": 8.0,  # channel multiplier (the shipped models use 0.25 and 0.5)
    "text": 200,  # characters of a name (class, data set, origin)
}


def _number(v: Any) -> bool:
    return is_number(v) and math.isfinite(v)


def _text(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= LIMITS["text"]
