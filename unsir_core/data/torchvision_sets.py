"""Torchvision image data sets (MNIST, Fashion-MNIST, CIFAR-10, CIFAR-100, SVHN) as `ImageData`.

Each data set lives in its own folder, `root/<key>`, in the layout torchvision expects there; when that
folder lacks files and a Debian data-set package holds the set (`sources.PACKAGES`: Fashion-MNIST), its
gzip idx files are read where the package installed them. Tensors are built straight from the data
sets' internal arrays (never image by image) and cached in-process. Torchvision's own integrity checks
(md5 sums) stay on; missing, offline and corrupted files raise `DataError` naming the folder or file and
what to do.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import threading
from abc import ABC, abstractmethod
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.mnist import read_sn3_pascalvincent_tensor
from torchvision.datasets.utils import check_integrity

from unsir_core.common.errors import ConfigError, DataError
from unsir_core.data import sources
from unsir_core.data.bundle import ImageData, channel_stats


class _Family(ABC):
    """How one family of torchvision data sets is opened, where its files lie and how one file is read."""

    def __init__(self, cls: type):
        self.cls = cls

    def open(self, root: Path, train: bool, download: bool) -> Any:
        """The torchvision data set of one split; raises whatever torchvision raises."""
        return self.cls(root, train=train, download=download)

    @abstractmethod
    def data_dir(self, root: Path) -> Path:
        """The folder under `root` that holds the data files."""

    @abstractmethod
    def files(self) -> list[tuple[str, str | None]]:
        """(file name in `data_dir`, expected md5 or None), read from the class so its checks apply."""

    @abstractmethod
    def read(self, path: Path) -> object:
        """Parse one data file; raises when it is corrupted."""

    @abstractmethod
    def tensors(self, ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(uint8 [N, C, H, W] images, int64 [N] labels) from the data set's internal arrays."""

    @abstractmethod
    def origin(self) -> str:
        """Where the files come from, for the "copy the files" hint."""

    def class_names(self, ds: Any) -> tuple[str, ...]:
        """Index -> class name, as the data set names its classes."""
        return tuple(str(c) for c in ds.classes)


class _Idx(_Family):
    """MNIST and Fashion-MNIST: unzipped idx-ubyte files in `<Class>/raw/`, 1 x 28 x 28 grey."""

    def data_dir(self, root: Path) -> Path:
        return root / self.cls.__name__ / "raw"

    def files(self) -> list[tuple[str, str | None]]:
        # torchvision checks the md5 of the downloaded .gz, and only the presence of the unzipped files.
        return [(name.removesuffix(".gz"), None) for name, _ in self.cls.resources]

    def read(self, path: Path) -> object:
        return read_sn3_pascalvincent_tensor(str(path), strict=True)

    def tensors(self, ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        return ds.data.unsqueeze(1).contiguous(), ds.targets.long()

    def origin(self) -> str:
        return f"the unzipped .gz files from {self.cls.mirrors[0]}"


class _Cifar(_Family):
    """CIFAR-10 and CIFAR-100: python pickle batches in `cifar-*-py/`, NHWC uint8 arrays."""

    def data_dir(self, root: Path) -> Path:
        return root / self.cls.base_folder

    def files(self) -> list[tuple[str, str | None]]:
        meta = self.cls.meta
        return [(name, md5) for name, md5 in self.cls.train_list + self.cls.test_list] + [
            (meta["filename"], meta["md5"])
        ]

    def read(self, path: Path) -> object:
        with open(path, "rb") as f:
            return pickle.load(f, encoding="latin1")

    def tensors(self, ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return x, torch.as_tensor(ds.targets, dtype=torch.int64)

    def origin(self) -> str:
        return f"unpack {self.cls.url} there"


class _Svhn(_Family):
    """SVHN: `train_32x32.mat` and `test_32x32.mat` directly in the folder; NCHW after torchvision."""

    def open(self, root: Path, train: bool, download: bool) -> Any:
        return self.cls(root, split="train" if train else "test", download=download)

    def data_dir(self, root: Path) -> Path:
        return root

    def files(self) -> list[tuple[str, str | None]]:
        return [(self.cls.split_list[s][1], self.cls.split_list[s][2]) for s in ("train", "test")]

    def read(self, path: Path) -> object:
        import scipy.io  # optional, as in torchvision: only SVHN needs it

        return scipy.io.loadmat(path)

    def tensors(self, ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
        # torchvision already maps label 10 to digit 0 and transposes HWCN to NCHW.
        return torch.from_numpy(np.ascontiguousarray(ds.data)), torch.from_numpy(ds.labels.astype(np.int64))

    def class_names(self, ds: Any) -> tuple[str, ...]:
        return tuple(str(d) for d in range(10))

    def origin(self) -> str:
        return f"from {self.cls.split_list['train'][0].rsplit('/', 1)[0]}/"


_SOURCES: dict[str, tuple[str, _Family]] = {
    "mnist": ("MNIST", _Idx(datasets.MNIST)),
    "fashionmnist": ("Fashion-MNIST", _Idx(datasets.FashionMNIST)),
    "cifar10": ("CIFAR-10", _Cifar(datasets.CIFAR10)),
    "cifar100": ("CIFAR-100", _Cifar(datasets.CIFAR100)),
    "svhn": ("SVHN", _Svhn(datasets.SVHN)),
}

_LOCK = threading.Lock()  # one load at a time, so two pages never download into one folder together


def load_torchvision(key: str, root: Path, download: bool) -> ImageData:
    """Load torchvision data set `key` from `root/<key>`, downloading it there first when `download`.

    Files missing from `root/<key>` are read from an installed Debian package instead, when there is one
    (`sources.package_folder`). Raises `ConfigError` for an unknown key and `DataError` when the files are
    missing (offline or downloads off) or corrupted. Results are cached per (key, root, download, package
    folder) in this process.
    """
    if key not in _SOURCES:
        raise ConfigError(f"Unknown torchvision data set {key!r}. Choose one of {', '.join(_SOURCES)}.")
    resolved = Path(root).expanduser().resolve()
    package = None if sources.local_ready(key, resolved) else sources.package_folder(key)
    with _LOCK:
        return _load_cached(key, str(resolved), download, str(package) if package else None)


@lru_cache(maxsize=4)
def _load_cached(key: str, root: str, download: bool, package: str | None) -> ImageData:
    """Both splits of `key` as one `ImageData` (uncached work of `load_torchvision`)."""
    title, family = _SOURCES[key]
    if package is not None:
        return _from_package(key, title, family, Path(package))
    folder = Path(root) / key
    train = _open(title, family, folder, True, download)
    test = _open(title, family, folder, False, download)
    classes = family.class_names(train)
    fix = "Delete them and download again"
    train_x, train_y = _checked(title, family.data_dir(folder), fix, *family.tensors(train), len(classes))
    test_x, test_y = _checked(title, family.data_dir(folder), fix, *family.tensors(test), len(classes))
    mean, std = channel_stats(train_x)
    return ImageData(key, classes, train_x, train_y, test_x, test_y, mean, std)


def _from_package(key: str, title: str, family: _Family, folder: Path) -> ImageData:
    """Both splits of `key` from the gzip idx files a Debian package installed in `folder`, read in place."""
    name = sources.PACKAGES[key].name
    fix = f"Reinstall the package: apt-get install --reinstall {name}"
    train_x, train_y, test_x, test_y = (
        _read_packaged(title, folder / file, fix) for file in sources.PACKAGES[key].files
    )
    classes = family.class_names(family.cls)  # torchvision names the classes on the class itself
    train_x, train_y = _checked(title, folder, fix, train_x.unsqueeze(1), train_y.long(), len(classes))
    test_x, test_y = _checked(title, folder, fix, test_x.unsqueeze(1), test_y.long(), len(classes))
    mean, std = channel_stats(train_x)
    return ImageData(key, classes, train_x.contiguous(), train_y, test_x.contiguous(), test_y, mean, std)


def _read_packaged(title: str, path: Path, fix: str) -> torch.Tensor:
    """One gzip idx file of unsigned bytes (images [N, H, W] or labels [N]); `DataError` when it is damaged."""
    try:
        with gzip.open(path, "rb") as f:
            return read_idx_bytes(f.read())
    except (OSError, EOFError, ValueError, struct.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DataError(f"The {title} file {path} is damaged: {exc}. {fix}.") from exc


def read_idx_bytes(raw: bytes) -> torch.Tensor:
    """An idx file's contents (big-endian magic 0, 0, type 0x08 = unsigned byte, ndim; each dimension; the
    bytes) as a uint8 tensor of that shape; ValueError naming what is wrong."""
    if len(raw) < 4 or raw[:3] != b"\x00\x00\x08" or raw[3] not in (1, 3):
        raise ValueError("not an idx file of unsigned bytes with 1 or 3 dimensions")
    ndim = raw[3]
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{body.size} bytes of data where the header announces {int(np.prod(shape))}")
    return torch.from_numpy(body.reshape(shape).copy())


def _open(title: str, family: _Family, folder: Path, train: bool, download: bool) -> Any:
    """Open one split with torchvision, turning any failure into a `DataError` that says what to do."""
    try:
        return family.open(folder, train, download)
    except Exception as exc:  # torchvision raises RuntimeError, URLError, OSError, pickle/scipy errors, ...
        raise _diagnose(title, family, folder, download, exc) from exc


def _diagnose(title: str, family: _Family, folder: Path, download: bool, exc: Exception) -> DataError:
    """Why torchvision could not open the data set: missing files, a corrupted file, or something else."""
    data_dir = family.data_dir(folder)
    missing = [name for name, _ in family.files() if not (data_dir / name).is_file()]
    if missing:
        return DataError(_missing_message(title, family, folder, download, missing, exc))
    for name, md5 in family.files():
        if md5 is not None and not check_integrity(data_dir / name, md5):
            return DataError(_corrupted_message(title, data_dir / name, "its md5 checksum does not match"))
    for name, _ in family.files():
        try:
            family.read(data_dir / name)
        except Exception as read_exc:  # any parse failure means the file is damaged
            return DataError(_corrupted_message(title, data_dir / name, f"it cannot be read ({read_exc})"))
    return DataError(f"Could not load {title} from {data_dir}: {exc}. Delete {folder} and download it again.")


def _missing_message(
    title: str, family: _Family, folder: Path, download: bool, missing: list[str], exc: Exception
) -> str:
    """Not found: where we looked, what is missing, and the two ways to fix it."""
    data_dir = family.data_dir(folder)
    names = [name for name, _ in family.files()]
    rel = data_dir.relative_to(folder)
    expected = ", ".join(names) if rel == Path(".") else f"{rel}/ with {', '.join(names)}"
    partly = f" (missing: {', '.join(missing)})" if len(missing) < len(names) else ""
    where = f"{title} was not found in {data_dir}{partly}."
    if download:
        action = f"Downloading it failed ({exc}). Connect to the internet and run again"
    else:
        action = "Downloads are off. Allow downloads, connect to the internet and run again"
    package = sources.package_hint(folder.name)  # folder is root/<key>
    return f"{where} {action}{package}, or copy the files into {folder}: {expected} ({family.origin()})."


def _corrupted_message(title: str, path: Path, why: str) -> str:
    """A damaged file: name it and say to delete it and download again."""
    return (
        f"The {title} file {path} is corrupted: {why}. Delete it and run again with downloads allowed "
        "to fetch a fresh copy."
    )


def _checked(
    title: str, where: Path, fix: str, x: torch.Tensor, y: torch.Tensor, num_classes: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Images and labels that agree in length, with labels in 0..num_classes-1; else `DataError` ending in `fix`."""
    labels_ok = len(y) == 0 or (int(y.min()) >= 0 and int(y.max()) < num_classes)
    if x.dtype != torch.uint8 or x.ndim != 4 or y.ndim != 1 or len(x) != len(y) or not labels_ok:
        raise DataError(
            f"The {title} files in {where} are inconsistent ({len(x)} images of type {x.dtype} and shape "
            f"{tuple(x.shape[1:])}, {len(y)} labels for {num_classes} classes). {fix}."
        )
    return x, y
