"""The Model and data page's imports through AppTest: the reported upload sequence (a checkpoint of another
architecture, a name taken by a shipped checkpoint, removing and uploading again), a refusal that goes with its
cause, a room's own photos as a zip trained on right there, and a sidebar that always names a usable model."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from studio import nav
from unsir_core.checkpoints import roots
from unsir_core.common.paths import ASSETS_DIR
from unsir_core.models import get_spec

APP = str(Path(__file__).resolve().parent.parent / "app.py")
ALLCNN = ASSETS_DIR / "shapes10-allcnn.safetensors"


def model_page(**query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params = dict(query)
    at.run()
    at.switch_page(nav.MODEL.path).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def upload(at: AppTest, name: str | None, payload: bytes = b"", key: str = "upload") -> AppTest:
    at.file_uploader(key=key).set_value((name, payload, "application/octet-stream") if name else None).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def sidebar(at: AppTest) -> str:
    return " ".join(m.value for m in at.sidebar.markdown)


def errors(at: AppTest) -> str:
    return " ".join(e.value for e in at.error)


def photos_zip(classes=("cat", "dog", "owl"), per_class: int = 10) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for i, name in enumerate(classes):
            for j in range(per_class):
                image = io.BytesIO()
                Image.new("RGB", (16, 16), (90 * i, 8 * j, 40)).save(image, format="PNG")
                z.writestr(f"photos/{name}/{j}.png", image.getvalue())
    return buffer.getvalue()


@pytest.fixture(autouse=True)
def own_upload_folder(tmp_path, monkeypatch):
    """Uploaded image folders go to this test's import folder (the data root is shared between tests)."""
    monkeypatch.setenv(roots.IMPORT_ENV, str(tmp_path / "imports"))


@pytest.mark.slow  # evaluates All-CNN on the 2,500 test images for the page's per-class chart
def test_the_reported_upload_sequence_ends_on_the_right_model_without_a_stale_message():
    at = model_page()  # Small CNN selected
    upload(at, ALLCNN.name, ALLCNN.read_bytes())  # an All-CNN file, named like the shipped one
    setup, notice = at.session_state["setup"], " ".join(s.value for s in at.success)
    assert (setup.arch, setup.model) == ("allcnn", "shapes10-allcnn-2.safetensors")
    assert "switched from Small CNN to All-CNN" in notice
    assert "shapes10-allcnn.safetensors is taken by a shipped checkpoint, so this one is" in notice
    assert not at.error and "shapes10-allcnn-2" in sidebar(at)
    for arch, shown in (("smallcnn", "shapes10-smallcnn"), ("allcnn", "shapes10-allcnn")):
        at.selectbox(key="setup:arch").set_value(arch).run()
        assert not at.error and not at.success, errors(at)  # nothing stale
        assert shown in sidebar(at) and at.subheader[0].value == f"Selected model: {shown}"
    upload(upload(at, None), ALLCNN.name, ALLCNN.read_bytes())  # removed, then uploaded again
    assert at.session_state["setup"].model == "shapes10-allcnn-3.safetensors"
    assert any("so this one is shapes10-allcnn-3.safetensors" in s.value for s in at.success)
    assert not at.error and "shapes10-allcnn-3" in sidebar(at) and "none for" not in sidebar(at)


@pytest.mark.slow  # evaluates the imported All-CNN (no accuracy in a bare state dict)
def test_a_bare_state_dict_of_another_architecture_switches_it():
    at = model_page()
    buffer = io.BytesIO()
    torch.save(get_spec("allcnn").create(10, 3).state_dict(), buffer)
    upload(at, "mine.pt", buffer.getvalue())
    assert (at.session_state["setup"].arch, at.session_state["setup"].model) == ("allcnn", "mine.safetensors")
    assert not at.error, errors(at)


def test_a_refusal_goes_when_its_cause_does_here_an_uploaded_zip_of_photos():
    at = model_page()
    buffer = io.BytesIO()
    torch.save(get_spec("smallcnn").create(3, 3).state_dict(), buffer)  # three classes: not Shapes-10's ten
    upload(at, "three.pt", buffer.getvalue())
    assert "3 output classes" in errors(at)
    upload(at, "pets.zip", photos_zip(), key="image-zip")  # the cause goes: a data set of three classes
    setup = at.session_state["setup"]
    assert setup.dataset == f"folder:{roots.import_dir() / 'pets'}"
    assert sorted(p.name for p in Path(setup.dataset[7:]).iterdir()) == ["cat", "dog", "owl"]
    assert setup.model == "three.safetensors" and not at.error, errors(at)  # the same file, checked again
    assert any("Imported three.pt" in s.value for s in at.success)


def test_a_zip_of_photos_is_unpacked_selected_and_trained_on():
    at = model_page()
    upload(at, "pets.zip", photos_zip(), key="image-zip")
    notice = " ".join(s.value for s in at.success)
    assert "3 classes" in notice and "cat (8 + 2)" in notice and "Train now" in notice
    assert at.tabs[0].label == "Train now"  # no model yet: training comes first
    assert "no Small CNN model for this data set yet" in sidebar(at)
    assert not at.error and "No Small CNN model for pets yet: train one with **Train now**" in at.info[0].value
    at.number_input(key="train-epochs").set_value(2).run()
    at.button(key="train").click().run(timeout=300)
    assert not at.exception and not at.error, errors(at)
    setup = at.session_state["setup"]
    assert setup.model.startswith("pets-smallcnn-2ep") and setup.dataset == f"folder:{roots.import_dir() / 'pets'}"
    assert at.subheader[0].value.startswith("Selected model: pets-smallcnn-2ep")


def test_a_bad_zip_is_refused_and_the_data_set_stays():
    at = model_page()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("../escape/cat/0.png", b"x")
    upload(at, "evil.zip", buffer.getvalue(), key="image-zip")
    assert "'../escape/cat/0.png' points outside the archive's folder" in errors(at)
    assert at.session_state["setup"].dataset == "shapes10"


def test_the_sidebar_names_a_usable_model_when_the_link_names_none():
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params = {"model": "missing.safetensors"}
    at.run()
    assert "shapes10-smallcnn" in sidebar(at) and at.session_state["setup"].model == ""
    assert any("missing.safetensors" in w.value and "default model" in w.value for w in at.warning)
