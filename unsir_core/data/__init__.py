"""Data set registry: every loader returns an `ImageData`. Pages, CLI and tests read `DATASETS`.

The registry is torch-free: `ImageData` and the loaders are imported on first use (module
`__getattr__`), so the first page of the dashboard lists data sets without waiting for torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unsir_core.common.errors import ConfigError
from unsir_core.common.paths import data_root
from unsir_core.data.sources import Availability, availability

if TYPE_CHECKING:
    from unsir_core.data.bundle import ImageData, channel_stats  # noqa: F401


def __getattr__(name: str) -> Any:
    """`ImageData` and `channel_stats`, imported (with torch) when first asked for."""
    if name in ("ImageData", "channel_stats"):
        from unsir_core.data import bundle

        return getattr(bundle, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_shapes() -> ImageData:
    from unsir_core.data.shapes import load_shapes as load

    return load()


@dataclass(frozen=True)
class DatasetSpec:
    name: str  # registry key, used on the command line and in URLs
    title: str  # shown in the UI
    description: str  # one sentence for the UI
    loader: Callable[[Path, bool], ImageData]  # (root, download) -> ImageData
    offline: bool  # True when it never needs the network


def load_torchvision(key: str, root: Path, download: bool) -> ImageData:
    """Imported on first use: torchvision's import costs about 2 s of the dashboard's first render."""
    from unsir_core.data.torchvision_sets import load_torchvision as load

    return load(key, root, download)


DATASETS: dict[str, DatasetSpec] = {
    "shapes10": DatasetSpec(
        "shapes10",
        "Shapes-10 (embedded)",
        "10 shapes at random colour, position, scale and rotation on cluttered backgrounds; generated "
        "locally from a seed, no download.",
        lambda root, download: load_shapes(),
        True,
    ),
    **{
        key: DatasetSpec(key, title, desc, lambda root, download, key=key: load_torchvision(key, root, download), False)
        for key, title, desc in (
            ("mnist", "MNIST", "70,000 handwritten digits, 28x28 grey."),
            ("fashionmnist", "Fashion-MNIST", "70,000 clothing images in 10 classes, 28x28 grey."),
            ("cifar10", "CIFAR-10", "60,000 colour images in 10 classes, 32x32 (the paper's main benchmark)."),
            ("cifar100", "CIFAR-100", "60,000 colour images in 100 classes, 32x32."),
            ("svhn", "SVHN", "Street-view house numbers, 32x32 colour, 10 digit classes."),
        )
    },
}

DEFAULT_DATASET = "shapes10"


def dataset_availability(name: str, root: str | Path | None = None) -> Availability:
    """Whether registered data set `name` is ready on this machine (file presence only, no torch), and
    otherwise exactly how to get it; `root` as in `load_dataset`."""
    spec = DATASETS[name]
    if spec.offline:
        return Availability(True, "generated locally", "")
    return availability(name, Path(root) if root else data_root())


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> ImageData:
    """Load a registered data set, or an image folder when `name` is "folder:PATH".

    `root` is where torchvision data sets live (default: $UNSIR_DATA_ROOT); `download=False` never
    touches the network and raises `DataError` with instructions when the files are missing. Where each
    torchvision set is looked for (including Debian's data-set packages): `unsir_core.data.sources`.
    """
    if name.startswith("folder:"):
        from unsir_core.data.folder import load_image_folder

        return load_image_folder(Path(name.split(":", 1)[1]).expanduser())
    spec = DATASETS.get(name.lower())
    if spec is None:
        raise ConfigError(
            f"Unknown data set {name!r}. Choose one of {', '.join(DATASETS)} or 'folder:PATH' for an image "
            "folder with one subfolder per class."
        )
    return spec.loader(Path(root) if root else data_root(), download)


__all__ = [
    "DATASETS",
    "DEFAULT_DATASET",
    "Availability",
    "DatasetSpec",
    "ImageData",
    "channel_stats",
    "dataset_availability",
    "load_dataset",
]
