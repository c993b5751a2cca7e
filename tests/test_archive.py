"""Uploaded image-folder archives (`unsir_core.data.archive`): a good zip becomes a loadable image folder; each
hostile one is refused with a message naming the entry, and leaves nothing behind."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from unsir_core.common.errors import DataError
from unsir_core.data import load_dataset
from unsir_core.data.archive import ArchiveLimits, unpack_image_zip


def png(side: int = 16, colour: int = 0) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), (colour, 255 - colour, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def image_zip(classes=("cat", "dog", "owl"), per_class: int = 4, prefix: str = "") -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i, name in enumerate(classes):
            for j in range(per_class):
                z.writestr(f"{prefix}{name}/{j}.png", png(16, 40 * i + j))
    buffer.seek(0)
    return buffer


def with_entry(name: str, payload: bytes = b"", **info) -> io.BytesIO:
    """A good image zip plus one entry `name` (ZipInfo attributes in `info`)."""
    buffer = image_zip()
    with zipfile.ZipFile(buffer, "a") as z:
        entry = zipfile.ZipInfo(name)
        for key, value in info.items():
            setattr(entry, key, value)
        z.writestr(entry, payload, compress_type=info.get("compress_type", zipfile.ZIP_STORED))
    buffer.seek(0)
    return buffer


def refused(source, dest: Path, words: str, limits: ArchiveLimits = ArchiveLimits()) -> str:
    with pytest.raises(DataError) as caught:
        unpack_image_zip(source, dest, limits)
    assert words in str(caught.value)
    assert not dest.exists()
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []  # nothing half-extracted or temporary
    return str(caught.value)


def test_a_zipped_image_folder_is_unpacked_and_loads(tmp_path):
    dest = tmp_path / "uploads" / "pets"
    found = unpack_image_zip(image_zip(prefix="pets/"), dest)  # a zipped folder: its single top folder is skipped
    assert found.path == dest and sorted(p.name for p in dest.iterdir()) == ["cat", "dog", "owl"]
    assert found.classes == {"cat": (3, 1), "dog": (3, 1), "owl": (3, 1)}
    data = load_dataset(f"folder:{dest}")
    assert data.class_names == ("cat", "dog", "owl") and len(data.train_y) == 9
    assert [p.name for p in dest.parent.iterdir()] == ["pets"]


def test_train_and_test_folders_and_clutter(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for split, n in (("train", 3), ("test", 2)):
            for name in ("a", "b"):
                for j in range(n):
                    z.writestr(f"{split}/{name}/{j}.png", png())
        z.writestr("README.txt", b"my photos")
        z.writestr("__MACOSX/train/a/._0.png", b"resource fork")
    found = unpack_image_zip(buffer, tmp_path / "set")
    assert found.classes == {"a": (3, 2), "b": (3, 2)}
    assert found.skipped == ("README.txt",)
    assert not (tmp_path / "set" / "README.txt").exists() and not (tmp_path / "set" / "__MACOSX").exists()


@pytest.mark.parametrize("name", ["../evil.png", "cat/../../evil.png", "/etc/evil.png", "C:/evil.png", "..\\evil.png"])
def test_zip_slip_is_refused(tmp_path, name):
    message = refused(with_entry(name, png()), tmp_path / "out" / "set", "outside the archive's folder")
    assert repr(name) in message
    assert not (tmp_path / "evil.png").exists() and not (tmp_path / "out" / "evil.png").exists()


def test_a_symlink_entry_is_refused(tmp_path):
    link = with_entry("cat/link.png", b"/etc/passwd", external_attr=(stat.S_IFLNK | 0o777) << 16, create_system=3)
    assert "'cat/link.png' is a symbolic link" in refused(link, tmp_path / "out" / "set", "symbolic link")


def test_a_zip_bomb_is_refused_by_its_ratio(tmp_path):
    bomb = with_entry("cat/bomb.bmp", bytes(20 * 1024**2), compress_type=zipfile.ZIP_DEFLATED)
    assert "'cat/bomb.bmp'" in refused(bomb, tmp_path / "out" / "set", "zip bomb")


def test_a_header_that_lies_about_the_size_is_caught_while_reading(tmp_path):
    buffer = image_zip()
    with zipfile.ZipFile(buffer, "a") as z:
        z.writestr("cat/big.png", png(64), compress_type=zipfile.ZIP_STORED)
    data = bytearray(buffer.getvalue())
    offset = data.rfind(b"cat/big.png") - 46  # its central directory record, which zipfile trusts
    assert data[offset : offset + 4] == b"PK\x01\x02"
    data[offset + 24 : offset + 28] = (10).to_bytes(4, "little")  # declared unpacked size: 10 bytes
    # zipfile stops at the declared size and the checksum fails; the byte count here is a second guard
    refused(io.BytesIO(bytes(data)), tmp_path / "out" / "set", "Cannot unpack 'cat/big.png'")


def test_too_many_files_is_refused(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as z:
        for i in range(50_001):
            z.writestr(f"a/{i}.png", b"")
    buffer.seek(0)
    assert "50,001 entries" in refused(buffer, tmp_path / "out" / "set", "at most 50,000")


def test_an_oversized_image_is_refused_by_its_header(tmp_path):
    buffer = io.BytesIO()
    Image.new("L", (1025, 8)).save(buffer, format="PNG")
    message = refused(with_entry("cat/wide.png", buffer.getvalue()), tmp_path / "out" / "set", "1025x8 pixels")
    assert "'cat/wide.png'" in message and "1024" in message


def test_a_nested_archive_is_refused(tmp_path):
    refused(
        with_entry("cat/more.zip", image_zip().getvalue()), tmp_path / "out" / "set", "'cat/more.zip' is an archive"
    )


def test_sizes_over_the_limits_are_refused(tmp_path):
    small = ArchiveLimits(max_zip_bytes=1000)
    refused(image_zip(), tmp_path / "a" / "set", "at most 0 MB", small)
    tight = ArchiveLimits(max_unpacked_bytes=500)
    refused(image_zip(), tmp_path / "b" / "set", "unpacks to more than 0 MB", tight)


@pytest.mark.parametrize(
    "payload, words",
    [(b"not a zip at all", "not a readable .zip"), (None, "at least 2 are needed")],
    ids=["garbage", "one-class"],
)
def test_what_is_not_an_image_folder_is_refused(tmp_path, payload, words):
    source = io.BytesIO(payload) if payload else image_zip(classes=("only",))
    refused(source, tmp_path / "out" / "set", words)


def test_an_image_that_is_not_one_is_refused(tmp_path):
    refused(
        with_entry("cat/fake.png", b"GIF89a? no"), tmp_path / "out" / "set", "'cat/fake.png' is not a readable image"
    )


def test_bytes_are_counted_while_reading_whatever_the_reader_returns(tmp_path, monkeypatch):
    """The second guard: a zip reader that returned more than the header said (zipfile itself stops at the
    declared size) is stopped by the count of bytes written."""
    source = image_zip()
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info: io.BytesIO(bytes(info.file_size + 1)))
    refused(source, tmp_path / "out" / "set", "unpacks to more than its header says")


def test_the_archive_limit_is_the_dashboards_upload_limit():
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parent.parent / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] * 1024**2 == ArchiveLimits().max_zip_bytes


@pytest.mark.filterwarnings("ignore:Duplicate name")  # zipfile warns when the test writes the same name twice
@pytest.mark.parametrize("name", ["cat/0.png", "cat/0.png/1.png"], ids=["twice", "file-as-folder"])
def test_entries_that_collide_are_refused(tmp_path, name):
    refused(with_entry(name, png()), tmp_path / "out" / "set", "Cannot unpack")
