"""A `.zip` of an image folder (one subfolder per class, optionally under `train/` and `test/`), unpacked safely.

The archive comes from anyone who can open a served dashboard, so it is hostile input. Python's `zipfile`
reads it; every entry is checked before any byte is written, and again while it is written:

- the archive at most `max_zip_bytes`, at most `max_entries` entries, at most `max_unpacked_bytes` in all
  (from the headers, and counted while reading: a header that lies cannot fill the disk);
- no entry that unpacks to more than `max_ratio` times its compressed size (a zip bomb);
- no absolute path, drive letter or `..` (zip slip), no symbolic link, no nested archive, no encrypted entry;
- every image's sides at most `max_side` pixels (PIL reads the header only).

Files that are not images (a README, macOS's `__MACOSX/` and `.DS_Store`) are skipped, not written. Everything
goes into a hidden temporary folder beside the destination; only when every entry passed and the result is an
image folder the loader accepts is it renamed into place (one atomic step). On any error the temporary folder
is removed: nothing half-extracted is ever visible.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from PIL import Image

from unsir_core.common.errors import DataError
from unsir_core.data.folder import IMAGE_EXTENSIONS, class_counts

MB = 1024**2
ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".7z", ".rar", ".zst", ".lz", ".jar", ".whl")
IGNORED_NAMES = ("__MACOSX", ".DS_Store", "Thumbs.db", "desktop.ini")  # what archivers add: skipped, not refused
CHUNK = 64 * 1024  # bytes copied per read while an entry is written and counted


@dataclass(frozen=True)
class ArchiveLimits:
    """What an uploaded image-folder archive may hold."""

    max_zip_bytes: int = 50 * MB  # the archive itself: the dashboard's upload limit (server.maxUploadSize)
    max_unpacked_bytes: int = 300 * MB  # all entries unpacked: 50,000 small photos fit, a disk-filling bomb does not
    max_entries: int = 50_000  # files and folders: a large class-per-folder set, not millions of empty entries
    max_ratio: float = 100.0  # unpacked / compressed per entry: PNG and JPEG stay near 1, a bomb is in the 1000s
    ratio_floor_bytes: int = 1 * MB  # entries smaller than this are not ratio-checked (a blank icon compresses well)
    max_side: int = 1024  # pixels: images are resized to 32-224 px for training, larger ones only cost memory


@dataclass(frozen=True)
class Unpacked:
    """An archive unpacked into an image folder."""

    path: Path  # the image folder (`folder:PATH` names it)
    classes: dict[str, tuple[int, int]]  # class name -> (training images, test images)
    skipped: tuple[str, ...]  # entries that are not images, not written


def unpack_image_zip(source: Path | BinaryIO, dest: Path, limits: ArchiveLimits = ArchiveLimits()) -> Unpacked:
    """Check the zip `source` and unpack it as the new folder `dest` (which must not exist yet).

    Raises `DataError` naming the entry and what to do when any check fails; `dest` then does not exist."""
    size = _size(source)
    if size > limits.max_zip_bytes:
        raise DataError(
            f"The archive is {size / MB:,.1f} MB; at most {limits.max_zip_bytes / MB:,.0f} MB can be uploaded. "
            "Resize the images (training uses 32 px) or upload fewer of them."
        )
    if dest.exists():
        raise DataError(f"{dest} already exists: choose another name for the upload.")
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"This is not a readable .zip archive ({exc}). Create it again with a zip tool.") from exc
    with archive:
        members, skipped = _checked_members(archive.infolist(), limits)
        work = Path(tempfile.mkdtemp(prefix=".unpacking-", dir=dest.parent))
        try:
            _extract(archive, members, work, limits)
            root = _dataset_root(work)
            classes = class_counts(root)
            _move(root, dest)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return Unpacked(dest, classes, tuple(skipped))


def _move(root: Path, dest: Path) -> None:
    """Rename the checked folder into place: the same parent, so one atomic step on one file system."""
    try:
        os.rename(root, dest)
    except OSError as exc:  # another upload took the name meanwhile
        raise DataError(f"Cannot put the images at {dest} ({exc.strerror}). Upload the archive again.") from exc


def _size(source: Path | BinaryIO) -> int:
    if isinstance(source, (str, Path)):
        return Path(source).stat().st_size
    position = source.tell()
    end = source.seek(0, os.SEEK_END)
    source.seek(position)
    return end


def _checked_members(infos: list[zipfile.ZipInfo], limits: ArchiveLimits) -> tuple[list[zipfile.ZipInfo], list[str]]:
    """The image entries to write, after every header check; the names of the entries skipped."""
    if len(infos) > limits.max_entries:
        raise DataError(
            f"The archive has {len(infos):,} entries; at most {limits.max_entries:,} files and folders are "
            "accepted. Upload fewer images (a few hundred per class are plenty here)."
        )
    members, skipped, total = [], [], 0
    for info in infos:
        parts = _safe_parts(info)
        if info.is_dir() or any(p in IGNORED_NAMES or p.startswith("._") for p in parts):
            continue
        suffix = PurePosixPath(parts[-1]).suffix.lower()
        if suffix in ARCHIVE_SUFFIXES:
            raise DataError(
                f"{info.filename!r} is an archive inside the archive; nested archives are not unpacked. "
                "Unpack it and put its images in the class folders."
            )
        if suffix not in IMAGE_EXTENSIONS:
            skipped.append(info.filename)
            continue
        if info.flag_bits & 0x1:
            raise DataError(f"{info.filename!r} is encrypted. Create the archive without a password.")
        if info.file_size >= limits.ratio_floor_bytes and info.file_size > limits.max_ratio * max(
            info.compress_size, 1
        ):
            raise DataError(
                f"{info.filename!r} unpacks to {info.file_size / MB:,.1f} MB from {info.compress_size:,} bytes "
                f"(more than {limits.max_ratio:,.0f} times): refused as a zip bomb. Save images as PNG or JPEG."
            )
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise DataError(
                f"The archive unpacks to more than {limits.max_unpacked_bytes / MB:,.0f} MB (reached at "
                f"{info.filename!r}). Resize the images or upload fewer of them."
            )
        members.append(info)
    if not members:
        raise DataError(
            "The archive holds no images. Zip a folder with one subfolder of images per class "
            f"({', '.join(IMAGE_EXTENSIONS)})."
        )
    return members, skipped


def _safe_parts(info: zipfile.ZipInfo) -> tuple[str, ...]:
    """The entry's path components; refused when it is absolute, leaves the folder, or is a link."""
    name = info.filename
    parts = tuple(p for p in re.split(r"[/\\]", name) if p not in ("", "."))
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name) or ".." in parts or "\x00" in name:
        raise DataError(
            f"The entry {name!r} points outside the archive's folder (an absolute path or '..'). Zip the image "
            "folder itself, with relative paths."
        )
    if stat.S_ISLNK(info.external_attr >> 16):
        raise DataError(f"The entry {name!r} is a symbolic link. Zip the image files themselves, not links to them.")
    if not parts:
        raise DataError(f"The entry {name!r} has no name. Create the archive again with a zip tool.")
    return parts


def _extract(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], work: Path, limits: ArchiveLimits) -> None:
    """Write each member under `work`, counting the bytes read against its header and the total limit."""
    written = 0
    for info in members:
        target = work.joinpath(*_safe_parts(info))
        try:
            target.parent.mkdir(parents=True, exist_ok=True)  # fails where a file took the folder's name
            with archive.open(info) as src, open(target, "xb") as out:
                size = 0
                while chunk := src.read(CHUNK):
                    size += len(chunk)
                    written += len(chunk)
                    if size > info.file_size or written > limits.max_unpacked_bytes:
                        raise DataError(
                            f"{info.filename!r} unpacks to more than its header says ({info.file_size:,} bytes): "
                            "the archive is damaged or forged. Create the archive again."
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
            raise DataError(f"Cannot unpack {info.filename!r}: {exc}. Create the archive again.") from exc
        _check_image(target, info.filename, limits.max_side)


def _check_image(path: Path, name: str, max_side: int) -> None:
    """An image file whose header PIL can read, with both sides at most `max_side` (no pixel is decoded)."""
    try:
        with Image.open(path) as img:
            width, height = img.size
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(f"{name!r} is not a readable image ({exc}). Replace or remove it.") from exc
    if max(width, height) > max_side:
        raise DataError(
            f"{name!r} is {width}x{height} pixels; images may be at most {max_side} px on each side. Resize it "
            "(training uses 32 px)."
        )


def _dataset_root(work: Path) -> Path:
    """The image folder in the unpacked tree: `work`, or the single folder it holds (a zipped folder)."""
    root = work
    while True:
        entries = [p for p in root.iterdir() if not p.name.startswith(".")]
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name not in ("train", "test"):
            inner = [p for p in entries[0].iterdir() if not p.name.startswith(".")]
            if any(p.is_dir() for p in inner):  # a wrapper folder, not a single class
                root = entries[0]
                continue
        return root
