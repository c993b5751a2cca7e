"""Where the torchvision data sets' files are, whether they are on this machine, and how to get them.

Torch-free and cheap (file presence only): the data-set menu says which sets are ready without importing
torch. A set is read from the first of these places that has every file:

1. `$UNSIR_DATA_ROOT/<key>/`, in torchvision's layout (downloaded there, or copied there by hand);
2. the folder of a Debian data-set package under `SYSTEM_DATASETS` (Fashion-MNIST: `dataset-fashion-mnist`,
   four gzip idx files, read as they are, never copied);
3. otherwise torchvision downloads it into 1. when downloads are allowed and the machine is online.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SYSTEM_DATASETS = Path("/usr/share/datasets")  # where Debian's dataset-* packages install their files
SYSTEM_DATASETS_ENV = "UNSIR_SYSTEM_DATASETS"  # overrides SYSTEM_DATASETS (tests point it at a tmp folder)

IDX_FILES = (  # MNIST and Fashion-MNIST: the four idx files of both splits (unzipped in torchvision's layout)
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


@dataclass(frozen=True)
class Layout:
    """Where torchvision keeps one data set's files under `$UNSIR_DATA_ROOT/<key>/`."""

    folder: str  # relative to `$UNSIR_DATA_ROOT/<key>/` ("." for that folder itself)
    files: tuple[str, ...]  # every file torchvision reads there
    download_mb: int  # about how many MB a download fetches


@dataclass(frozen=True)
class Package:
    """A Debian package that installs one data set's files, read where it puts them."""

    name: str  # the package, for apt-get install
    folder: str  # its folder under SYSTEM_DATASETS
    files: tuple[str, ...]  # the files read there, as installed


LAYOUTS: dict[str, Layout] = {  # tests check these agree with torchvision's own classes
    "mnist": Layout("MNIST/raw", IDX_FILES, 12),
    "fashionmnist": Layout("FashionMNIST/raw", IDX_FILES, 30),
    "cifar10": Layout(
        "cifar-10-batches-py", (*(f"data_batch_{i}" for i in range(1, 6)), "test_batch", "batches.meta"), 163
    ),
    "cifar100": Layout("cifar-100-python", ("train", "test", "meta"), 161),
    "svhn": Layout(".", ("train_32x32.mat", "test_32x32.mat"), 246),
}

PACKAGES: dict[str, Package] = {
    "fashionmnist": Package("dataset-fashion-mnist", "fashion-mnist", tuple(f"{name}.gz" for name in IDX_FILES)),
}


@dataclass(frozen=True)
class Availability:
    """Whether a data set can be used here without the network, and otherwise how to get it."""

    ready: bool  # every file is on this machine (or the set is generated locally)
    source: str  # where it is read from when ready; "" when not
    how: str  # when not ready: exactly how to get it; "" when ready


def system_datasets() -> Path:
    """The folder of Debian's data-set packages: $UNSIR_SYSTEM_DATASETS, default SYSTEM_DATASETS."""
    return Path(os.environ.get(SYSTEM_DATASETS_ENV) or SYSTEM_DATASETS)


def local_folder(key: str, root: Path) -> Path:
    """The folder under `root` where torchvision keeps `key`'s files."""
    return Path(root) / key / LAYOUTS[key].folder


def local_ready(key: str, root: Path) -> bool:
    """True when every file torchvision reads for `key` is under `root`."""
    folder = local_folder(key, root)
    return all((folder / name).is_file() for name in LAYOUTS[key].files)


def package_folder(key: str) -> Path | None:
    """The installed package folder holding every file of `key`, or None (no package, or not installed)."""
    package = PACKAGES.get(key)
    if package is None:
        return None
    folder = system_datasets() / package.folder
    return folder if all((folder / name).is_file() for name in package.files) else None


def package_hint(key: str) -> str:
    """ ", or install Debian's package ..." for a set that has one, else ""."""
    package = PACKAGES.get(key)
    if package is None:
        return ""
    return (
        f", or install Debian's package (apt-get install {package.name}; read in {system_datasets() / package.folder})"
    )


def availability(key: str, root: Path) -> Availability:
    """Where torchvision set `key` is read from with data root `root`, or how to get it."""
    if local_ready(key, root):
        return Availability(True, str(local_folder(key, root)), "")
    if (folder := package_folder(key)) is not None:
        return Availability(True, f"{folder} (Debian package {PACKAGES[key].name})", "")
    layout = LAYOUTS[key]
    how = (
        f"Not on this machine: it downloads (about {layout.download_mb} MB) into {root / key} on first use "
        f"when online{package_hint(key)}, or copy {', '.join(layout.files)} into {local_folder(key, root)}."
    )
    return Availability(False, "", how)
