"""Paths come only from the allowed roots: a checkpoint path outside them gets one answer whether or not it
exists, links out of the import folder are refused, and image folders in links must lie inside the data roots."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio import imports
from studio.setup import Setup
from tests.helpers import SHIPPED, pt_bytes
from unsir_core.checkpoints import roots
from unsir_core.common.errors import CheckpointError, DataError

# --- checkpoint paths -------------------------------------------------------------------------------------


def test_paths_outside_the_roots_get_one_answer_whether_or_not_they_exist(tmp_path, monkeypatch):
    monkeypatch.delenv(roots.IMPORT_ENV, raising=False)
    outside = tmp_path / "secret.safetensors"
    outside.write_bytes(SHIPPED.read_bytes())
    answers = []
    for path in (outside, tmp_path / "missing.safetensors", Path("/etc/shadow"), Path("/etc/nothing-here")):
        with pytest.raises(CheckpointError) as err:
            imports.from_source(str(path), Setup())
        answers.append(str(err.value))
    assert len(set(answers)) == 1 and "can be loaded by path only from" in answers[0]
    assert roots.IMPORT_ENV in answers[0]


def test_the_import_folder_is_a_root_but_its_links_out_are_not(tmp_path, monkeypatch, shipped_model):
    shared, elsewhere = tmp_path / "shared", tmp_path / "elsewhere"
    shared.mkdir(), elsewhere.mkdir()
    monkeypatch.setenv(roots.IMPORT_ENV, str(shared))
    (elsewhere / "m.pt").write_bytes(pt_bytes(shipped_model))
    (shared / "link.pt").symlink_to(elsewhere / "m.pt")
    with pytest.raises(CheckpointError, match="only from"):
        imports.from_source(str(shared / "link.pt"), Setup())
    with pytest.raises(CheckpointError, match="No file at"):
        imports.from_source(str(shared / "missing.pt"), Setup())
    (shared / "mine.pt").write_bytes(pt_bytes(shipped_model))
    assert imports.from_source(str(shared / "mine.pt"), Setup()) == "mine.safetensors"


# --- image folders --------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["/etc", "/proc", "/", "~", "../../etc"])
def test_image_folders_outside_the_data_roots_are_ignored_in_links(folder):
    setup, problems = Setup.from_query({"data": f"folder:{folder}"})
    assert setup.dataset == "shapes10"
    assert problems and "Image folders can be used only from" in problems[0]


def test_image_folders_inside_the_data_roots_are_accepted(tmp_path, monkeypatch):
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path))
    (tmp_path / "faces").mkdir()
    setup, problems = Setup.from_query({"data": f"folder:{tmp_path / 'faces'}"})
    assert setup.dataset == f"folder:{tmp_path / 'faces'}" and not problems


def test_an_unreadable_image_folder_is_a_clear_error(tmp_path, monkeypatch):
    from unsir_core.data import folder

    def denied(path):
        raise PermissionError(13, "Permission denied", str(path / "x"))

    monkeypatch.setattr(folder, "_class_files", denied)
    with pytest.raises(DataError, match="Cannot read the image folder .*Permission denied"):
        folder.load_image_folder(tmp_path)
