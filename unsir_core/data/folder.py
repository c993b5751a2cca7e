"""An image folder with one subfolder per class (the paper's face-recognition case, or a user's images).

Layouts: `path/<class>/<image>` (split here, stratified and seeded) or `path/train/<class>/<image>` plus
`path/test/<class>/<image>` (used as given). Images become RGB, centre-cropped to a square and resized.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from unsir_core.common.errors import ConfigError, DataError
from unsir_core.data.bundle import ImageData, channel_stats

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")

ClassFiles = dict[str, list[Path]]  # class name -> its image files, sorted


def load_image_folder(path: Path, image_size: int = 32, test_fraction: float = 0.2, seed: int = 0) -> ImageData:
    """Read an image folder into `ImageData`; class names are the subfolder names, sorted.

    With `train/` and `test/` subfolders those are the splits; otherwise `test_fraction` of each class
    (at least one image when the class has two or more) goes to the test split, chosen by `seed`.
    Raises `DataError` for a missing or malformed folder and `ConfigError` for bad arguments.
    """
    path = Path(path)
    _check_arguments(image_size, test_fraction)
    train_files, test_files = _checked_splits(path, test_fraction, seed)
    class_names = tuple(sorted(train_files))
    train_x, train_y = _read_split(train_files, class_names, image_size)
    test_x, test_y = _read_split(test_files, class_names, image_size)
    mean, std = channel_stats(train_x)
    return ImageData(f"folder:{path}", class_names, train_x, train_y, test_x, test_y, mean, std)


def class_counts(path: Path, test_fraction: float = 0.2, seed: int = 0) -> dict[str, tuple[int, int]]:
    """Class name -> (training images, test images) of the image folder `path`, checked as `load_image_folder`
    checks it but without reading a pixel; `DataError` for a folder it would refuse."""
    train, test = _checked_splits(Path(path), test_fraction, seed)
    return {name: (len(train[name]), len(test[name])) for name in sorted(train)}


def _checked_splits(path: Path, test_fraction: float, seed: int) -> tuple[ClassFiles, ClassFiles]:
    """`_splits` of an existing folder whose test split is not empty; unreadable folders -> `DataError`."""
    _check_directory(path)
    try:
        train_files, test_files = _splits(path, test_fraction, seed)
    except OSError as exc:  # an unreadable subfolder (e.g. under /proc): say so, never a traceback
        raise DataError(
            f"Cannot read the image folder {path}: {exc.strerror or exc} ({exc.filename}). Give a "
            "folder of your own images with one subfolder per class."
        ) from exc
    if not any(test_files.values()):
        raise DataError(
            f"{path} leaves no images for the test split: every class has a single image. "
            "Add at least two images per class."
        )
    return train_files, test_files


def _check_arguments(image_size: int, test_fraction: float) -> None:
    """Settings that cannot work -> `ConfigError`."""
    if image_size < 1:
        raise ConfigError(f"image_size must be a positive number of pixels, got {image_size}.")
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction}.")


def _check_directory(path: Path) -> None:
    """`path` must exist and be a folder."""
    if not path.exists():
        raise DataError(
            f"The image folder {path} does not exist. Check the path, or create it with one subfolder of "
            "images per class."
        )
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder. Give a folder with one subfolder of images per class.")


def _splits(path: Path, test_fraction: float, seed: int) -> tuple[ClassFiles, ClassFiles]:
    """(train, test) files per class, from `train/` and `test/` or from a seeded stratified split."""
    has_train, has_test = (path / "train").is_dir(), (path / "test").is_dir()
    if has_train != has_test:
        present, absent = ("train", "test") if has_train else ("test", "train")
        raise DataError(
            f"{path} has a {present}/ folder but no {absent}/ folder. Add {absent}/ with the same class "
            f"subfolders, or put the class subfolders directly in {path}."
        )
    if not has_train:
        return _stratified_split(_class_files(path), test_fraction, seed)
    train, test = _class_files(path / "train"), _class_files(path / "test")
    if set(train) != set(test):
        raise DataError(
            f"{path / 'train'} and {path / 'test'} have different classes "
            f"(only in train/: {sorted(set(train) - set(test)) or 'none'}; "
            f"only in test/: {sorted(set(test) - set(train)) or 'none'}). Use the same class subfolders in both."
        )
    return train, test


def _class_files(folder: Path) -> ClassFiles:
    """Image files of each visible class subfolder; at least two classes, none of them empty."""
    class_dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(class_dirs) < 2:
        raise DataError(
            f"{folder} has {len(class_dirs)} class subfolder(s); at least 2 are needed. Put the images of "
            "each class in their own subfolder, named after the class."
        )
    files = {d.name: _images_in(d) for d in class_dirs}
    for name, images in files.items():
        if not images:
            raise DataError(
                f"The class folder {folder / name} has no images. Add images ({', '.join(IMAGE_EXTENSIONS)}) "
                "or remove the folder."
            )
    return files


def _images_in(folder: Path) -> list[Path]:
    """Visible files in `folder` with an image extension (any case), sorted by name."""
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _stratified_split(files: ClassFiles, test_fraction: float, seed: int) -> tuple[ClassFiles, ClassFiles]:
    """Per class, a seeded shuffle; `test_fraction` of it is the test split, keeping >= 1 image on each side
    when the class has two or more (a single image stays in train)."""
    train, test = {}, {}
    for name, images in files.items():
        shuffled = list(images)
        random.Random(f"{seed}/{name}").shuffle(shuffled)  # per-class seed: adding a class moves no others
        n_test = min(max(1, round(len(shuffled) * test_fraction)), len(shuffled) - 1)
        test[name], train[name] = sorted(shuffled[:n_test]), sorted(shuffled[n_test:])
    return train, test


def _read_split(files: ClassFiles, class_names: tuple[str, ...], image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 [N, 3, S, S] images and int64 [N] labels, class by class (`files` is never empty)."""
    images, labels = [], []
    for label, name in enumerate(class_names):
        for file in files[name]:
            images.append(_read_image(file, image_size))
            labels.append(label)
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(labels, dtype=torch.int64)


def _read_image(file: Path, image_size: int) -> np.ndarray:
    """One image as uint8 [S, S, 3]: EXIF-rotated, RGB, centre-cropped to a square, Lanczos-resized."""
    try:
        with Image.open(file) as img:
            rgb = ImageOps.exif_transpose(img).convert("RGB")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"Cannot read the image {file}: {exc}. It is corrupted or not an image; replace or delete it."
        ) from exc
    square = ImageOps.fit(rgb, (image_size, image_size), method=Image.Resampling.LANCZOS)
    return np.asarray(square, dtype=np.uint8)
