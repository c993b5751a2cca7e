"""Data loaders on real on-disk formats written into tmp_path: torchvision sets (download=False, or a download
that is made to fail) and image folders. Nothing here touches the network."""

from __future__ import annotations

import hashlib
import pickle
import struct
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from torchvision import datasets

from unsir_core.common.errors import ConfigError, DataError
from unsir_core.data.folder import load_image_folder
from unsir_core.data.torchvision_sets import load_torchvision

RNG = np.random.default_rng(0)
N_TRAIN, N_TEST = 20, 10


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def _sane_stats(data, channels: int) -> None:
    assert len(data.mean) == len(data.std) == channels
    assert all(0.0 <= m <= 1.0 for m in data.mean) and all(0.0 < s <= 0.6 for s in data.std)


# ---------------------------------------------------------------- MNIST / Fashion-MNIST: idx-ubyte files


def _write_idx(path: Path, array: np.ndarray) -> None:
    """IDX format: big-endian magic (0, 0, type 0x08 = ubyte, ndim), then each dimension, then the bytes."""
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def _write_mnist(root: Path, key: str, class_folder: str) -> dict[str, np.ndarray]:
    """torchvision reads the unzipped files from root/<key>/<ClassName>/raw/ (the .gz are only downloads)."""
    raw = root / key / class_folder / "raw"
    raw.mkdir(parents=True)
    arrays = {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(N_TRAIN, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(N_TEST, dtype=np.uint8) * 3) % 10,
    }
    for name, array in arrays.items():
        _write_idx(raw / name, array)
    return arrays


@pytest.mark.parametrize(
    "key, class_folder, first_class",
    [("mnist", "MNIST", "0 - zero"), ("fashionmnist", "FashionMNIST", "T-shirt/top")],
)
def test_mnist_family_loads_idx_files(tmp_path, key, class_folder, first_class):
    arrays = _write_mnist(tmp_path, key, class_folder)
    data = load_torchvision(key, tmp_path, download=False)
    assert data.name == key
    assert data.train_x.shape == (N_TRAIN, 1, 28, 28) and data.test_x.shape == (N_TEST, 1, 28, 28)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert torch.equal(data.train_x[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert data.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.num_classes == 10 and data.class_names[0] == first_class
    _sane_stats(data, 1)


def test_truncated_mnist_file_names_the_file(tmp_path):
    _write_mnist(tmp_path, "mnist", "MNIST")
    images = tmp_path / "mnist" / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:500])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*corrupted.*Delete"):
        load_torchvision("mnist", tmp_path, download=False)


# ---------------------------------------------------------------- CIFAR-10 / CIFAR-100: pickle batches


def _write_pickle(path: Path, obj: dict) -> None:
    # The real files are Python 2 pickles whose str keys torchvision reads back as str (encoding="latin1").
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def _cifar_batch(n: int, labels_key: str, num_classes: int) -> dict:
    """One batch: rows of 3072 bytes (1024 R, 1024 G, 1024 B, each row-major 32 x 32)."""
    labels = [i % num_classes for i in range(n)]
    batch = {"batch_label": "test", "data": RNG.integers(0, 256, (n, 3072), dtype=np.uint8), labels_key: labels}
    if labels_key == "fine_labels":
        batch["coarse_labels"] = [label % 20 for label in labels]
    return batch


def _pin_cifar_md5(monkeypatch, cls: type, folder: Path) -> None:
    """torchvision checks every file against the md5 of the real release; pin the md5 of our small files
    instead, so the check still runs (and still catches a later corruption) but accepts these fixtures."""
    monkeypatch.setattr(cls, "train_list", [[name, _md5(folder / name)] for name, _ in cls.train_list])
    monkeypatch.setattr(cls, "test_list", [[name, _md5(folder / name)] for name, _ in cls.test_list])
    monkeypatch.setattr(cls, "meta", {**cls.meta, "md5": _md5(folder / cls.meta["filename"])})


def _write_cifar10(root: Path, monkeypatch) -> tuple[Path, list[dict]]:
    folder = root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = [_cifar_batch(4, "labels", 10) for _ in range(5)]  # 5 x 4 = N_TRAIN
    for i, batch in enumerate(batches, 1):
        _write_pickle(folder / f"data_batch_{i}", batch)
    _write_pickle(folder / "test_batch", _cifar_batch(N_TEST, "labels", 10))
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    _write_pickle(folder / "batches.meta", {"label_names": names, "num_cases_per_batch": 4, "num_vis": 3072})
    _pin_cifar_md5(monkeypatch, datasets.CIFAR10, folder)
    return folder, batches


def test_cifar10_loads_pickle_batches(tmp_path, monkeypatch):
    _, batches = _write_cifar10(tmp_path, monkeypatch)
    data = load_torchvision("cifar10", tmp_path, download=False)
    assert data.train_x.shape == (N_TRAIN, 3, 32, 32) and data.test_x.shape == (N_TEST, 3, 32, 32)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    expected_first = torch.from_numpy(batches[0]["data"][0].reshape(3, 32, 32))
    assert torch.equal(data.train_x[0], expected_first)  # NHWC -> NCHW gives back the original planes
    assert data.train_y.tolist() == [label for b in batches for label in b["labels"]]
    assert data.class_names[:2] == ("airplane", "automobile") and data.num_classes == 10
    _sane_stats(data, 3)


def test_cifar100_loads_fine_labels(tmp_path, monkeypatch):
    folder = tmp_path / "cifar100" / "cifar-100-python"
    folder.mkdir(parents=True)
    train = _cifar_batch(N_TRAIN, "fine_labels", 100)
    _write_pickle(folder / "train", train)
    _write_pickle(folder / "test", _cifar_batch(N_TEST, "fine_labels", 100))
    fine = [f"fine_{i}" for i in range(100)]
    _write_pickle(folder / "meta", {"fine_label_names": fine, "coarse_label_names": [f"c{i}" for i in range(20)]})
    _pin_cifar_md5(monkeypatch, datasets.CIFAR100, folder)
    data = load_torchvision("cifar100", tmp_path, download=False)
    assert data.train_x.shape == (N_TRAIN, 3, 32, 32) and data.test_x.shape == (N_TEST, 3, 32, 32)
    assert data.class_names == tuple(fine)
    assert data.train_y.tolist() == train["fine_labels"]
    _sane_stats(data, 3)


def test_cifar_md5_mismatch_names_the_file(tmp_path, monkeypatch):
    folder, _ = _write_cifar10(tmp_path, monkeypatch)
    (folder / "data_batch_3").write_bytes((folder / "data_batch_3").read_bytes()[:100])
    with pytest.raises(DataError, match="data_batch_3 is corrupted.*md5.*Delete it"):
        load_torchvision("cifar10", tmp_path, download=False)


def test_loaded_data_is_cached(tmp_path, monkeypatch):
    _write_cifar10(tmp_path, monkeypatch)
    assert load_torchvision("cifar10", tmp_path, download=False) is load_torchvision("cifar10", tmp_path, False)


def test_failed_download_says_to_connect_or_copy(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(datasets.cifar, "download_and_extract_archive", offline)
    with pytest.raises(DataError) as err:
        load_torchvision("cifar10", tmp_path, download=True)
    message = str(err.value)
    assert "name resolution" in message and "Connect to the internet" in message
    assert str(tmp_path / "cifar10") in message and "cifar-10-batches-py/" in message


# ---------------------------------------------------------------- SVHN: .mat files


def _write_svhn_mat(path: Path, n: int) -> tuple[np.ndarray, np.ndarray]:
    """X is H x W x C x N uint8; y is N x 1 with label 10 meaning the digit 0 (as in the real files)."""
    x = RNG.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)
    y = (np.arange(n) % 10 + 1).astype(np.float64).reshape(n, 1)  # 1..10
    scipy.io.savemat(path, {"X": x, "y": y})
    return x, y


def _pin_svhn_md5(monkeypatch, folder: Path) -> None:
    """As for CIFAR: keep torchvision's md5 check, against the md5 of our fixture files."""
    pinned = {
        split: [url, name, _md5(folder / name) if (folder / name).exists() else md5]
        for split, (url, name, md5) in datasets.SVHN.split_list.items()
    }
    monkeypatch.setattr(datasets.SVHN, "split_list", pinned)


def test_svhn_loads_mat_files_and_maps_10_to_0(tmp_path, monkeypatch):
    folder = tmp_path / "svhn"
    folder.mkdir()
    x, y = _write_svhn_mat(folder / "train_32x32.mat", N_TRAIN)
    _write_svhn_mat(folder / "test_32x32.mat", N_TEST)
    _pin_svhn_md5(monkeypatch, folder)
    data = load_torchvision("svhn", tmp_path, download=False)
    assert data.train_x.shape == (N_TRAIN, 3, 32, 32) and data.test_x.shape == (N_TEST, 3, 32, 32)
    assert data.train_x.dtype == torch.uint8 and data.train_y.dtype == torch.int64
    assert torch.equal(data.train_x[5], torch.from_numpy(x[..., 5]).permute(2, 0, 1))
    assert data.train_y.tolist() == [int(v) % 10 for v in y[:, 0]]
    assert data.class_names == tuple(str(d) for d in range(10))
    _sane_stats(data, 3)


def test_unreadable_svhn_file_names_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "svhn"
    folder.mkdir()
    (folder / "train_32x32.mat").write_bytes(b"MATLAB 5.0 but not really" * 10)
    _write_svhn_mat(folder / "test_32x32.mat", N_TEST)
    _pin_svhn_md5(monkeypatch, folder)  # md5 matches: the file is damaged, not a different download
    with pytest.raises(DataError, match="train_32x32.mat is corrupted.*cannot be read"):
        load_torchvision("svhn", tmp_path, download=False)


# ---------------------------------------------------------------- missing files, unknown key


@pytest.mark.parametrize(
    "key, expected",
    [
        ("mnist", "MNIST/raw/ with train-images-idx3-ubyte"),
        ("fashionmnist", "FashionMNIST/raw/ with train-images-idx3-ubyte"),
        ("cifar10", "cifar-10-batches-py/ with data_batch_1"),
        ("cifar100", "cifar-100-python/ with train, test, meta"),
        ("svhn", "train_32x32.mat, test_32x32.mat"),
    ],
)
def test_missing_files_offline_name_the_folder(tmp_path, key, expected):
    with pytest.raises(DataError) as err:
        load_torchvision(key, tmp_path, download=False)
    message = str(err.value)
    assert "was not found in" in message and str(tmp_path / key) in message
    assert expected in message and "Downloads are off" in message


def test_unknown_torchvision_key(tmp_path):
    with pytest.raises(ConfigError, match="Unknown torchvision data set 'imagenet'"):
        load_torchvision("imagenet", tmp_path, download=False)


# ---------------------------------------------------------------- image folders


def _write_png(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (24, 24)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


def _write_classes(folder: Path, per_class: int, classes=("cat", "ant", "bee")) -> None:
    """Solid images; red = class position, green = image index, so each image can be told apart."""
    for c, name in enumerate(classes):
        for i in range(per_class):
            _write_png(folder / name / f"img_{i:02d}.png", (40 + 80 * c, 10 * i, 0))


def test_flat_folder_is_split_per_class_deterministically(tmp_path):
    _write_classes(tmp_path, per_class=10)
    data = load_image_folder(tmp_path, image_size=16, test_fraction=0.2, seed=0)
    assert data.name == f"folder:{tmp_path}" and data.class_names == ("ant", "bee", "cat")
    assert data.train_x.shape == (24, 3, 16, 16) and data.test_x.shape == (6, 3, 16, 16)
    assert data.train_x.dtype == torch.uint8
    assert torch.bincount(data.test_y).tolist() == [2, 2, 2] and torch.bincount(data.train_y).tolist() == [8, 8, 8]
    again = load_image_folder(tmp_path, image_size=16, test_fraction=0.2, seed=0)
    assert torch.equal(again.test_x, data.test_x) and torch.equal(again.train_y, data.train_y)
    other = load_image_folder(tmp_path, image_size=16, test_fraction=0.2, seed=1)
    assert not torch.equal(other.test_x, data.test_x)
    _sane_stats(data, 3)


def test_labels_follow_sorted_class_names(tmp_path):
    _write_classes(tmp_path, per_class=3)  # cat is red 40, ant red 120, bee red 200
    data = load_image_folder(tmp_path, image_size=8)
    red = {int(y): int(x[0, 0, 0]) for x, y in zip(data.train_x, data.train_y)}
    assert red == {0: 120, 1: 200, 2: 40}


def test_train_test_subfolders_are_used_as_splits(tmp_path):
    _write_classes(tmp_path / "train", per_class=4)
    _write_classes(tmp_path / "test", per_class=1)
    data = load_image_folder(tmp_path, image_size=12)
    assert data.train_x.shape == (12, 3, 12, 12) and data.test_x.shape == (3, 3, 12, 12)
    assert data.class_names == ("ant", "bee", "cat") and data.test_y.tolist() == [0, 1, 2]


def test_centre_crop_resize_and_file_filtering(tmp_path):
    wide = Image.new("RGB", (90, 30), (255, 0, 0))
    wide.paste((0, 255, 0), (30, 0, 60, 30))  # green centre square, red sides
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        wide.save(tmp_path / name / "wide.PNG")
        wide.convert("L").save(tmp_path / name / "grey.JPEG")
        _write_png(tmp_path / name / ".hidden.png", (0, 0, 255))
        (tmp_path / name / "notes.txt").write_text("not an image")
    _write_png(tmp_path / ".thumbnails" / "x.png", (0, 0, 255))  # hidden folder: not a class
    data = load_image_folder(tmp_path, image_size=10, test_fraction=0.5)
    assert data.class_names == ("a", "b") and data.channels == 3 and data.image_size == 10
    assert len(data.train_y) + len(data.test_y) == 4  # wide.PNG and grey.JPEG per class, nothing else
    images = torch.cat([data.train_x, data.test_x])
    is_grey = (images[:, 0] == images[:, 1]).all(dim=(1, 2)) & (images[:, 1] == images[:, 2]).all(dim=(1, 2))
    assert is_grey.sum() == 2  # grey JPEGs become RGB with equal channels
    colour, grey = images[~is_grey], images[is_grey]
    assert int(colour[:, 1].min()) > 220 and int(colour[:, 0].max()) < 30  # only the green centre is kept
    assert int(grey.min()) > 120  # grey of green (~150), not of the red sides (~76)


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "nope")
    _write_png(tmp_path / "file.png", (1, 2, 3))
    with pytest.raises(DataError, match="is a file, not a folder"):
        load_image_folder(tmp_path / "file.png")
    one = tmp_path / "one"
    _write_classes(one, per_class=3, classes=("only",))
    with pytest.raises(DataError, match="1 class subfolder.*at least 2"):
        load_image_folder(one)


def test_empty_class_folder(tmp_path):
    _write_classes(tmp_path, per_class=3, classes=("a", "b"))
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "readme.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"class folder .*c has no images"):
        load_image_folder(tmp_path)


def test_corrupted_image_names_the_file(tmp_path):
    _write_classes(tmp_path, per_class=3, classes=("a", "b"))
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    with pytest.raises(DataError, match=r"Cannot read the image .*broken\.png"):
        load_image_folder(tmp_path)


def test_train_and_test_with_different_classes(tmp_path):
    _write_classes(tmp_path / "train", per_class=2, classes=("a", "b", "c"))
    _write_classes(tmp_path / "test", per_class=1, classes=("a", "b", "d"))
    with pytest.raises(DataError, match=r"different classes \(only in train/: \['c'\]; only in test/: \['d'\]\)"):
        load_image_folder(tmp_path)


def test_lone_train_folder_and_bad_arguments(tmp_path):
    _write_classes(tmp_path / "train", per_class=2, classes=("a", "b"))
    with pytest.raises(DataError, match="has a train/ folder but no test/ folder"):
        load_image_folder(tmp_path)
    with pytest.raises(ConfigError, match="test_fraction"):
        load_image_folder(tmp_path / "train", test_fraction=1.0)
    with pytest.raises(ConfigError, match="image_size"):
        load_image_folder(tmp_path / "train", image_size=0)
