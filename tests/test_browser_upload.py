"""Real-browser tests of issue 24: a room's own photos (upload a zip of an image folder on Model and data, train a
model on it with Train now, forget a class whose folder name is markup, see Results), and the upload sequence that
left a stale error and "none for All-CNN".

Uses the server and helpers of test_browser.py (same skip rules). The images are generated here: 3 classes x 30
pictures of 16x16 px; short training and the auto recipe keep it quick. Screenshots go to $UNSIR_SCREENSHOTS.
"""

from __future__ import annotations

import random
import zipfile

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.helpers import SHIPPED
from tests.test_browser import LONG, browser_page, chromium, go, idle, server, shot  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]  # as in test_browser.py

HOSTILE = "<i>owl"  # a folder name is a class name: shown as text, never as markup


def photos_zip(path) -> None:
    """One bright colour channel per class, with noise: learnable in a few epochs."""
    rng = random.Random(0)
    with zipfile.ZipFile(path, "w") as z:
        for channel, name in enumerate(("cat", "dog", HOSTILE)):
            for i in range(30):
                image = Image.new("RGB", (16, 16))
                image.putdata(
                    [tuple(rng.randint(150, 255) if c == channel else rng.randint(0, 90) for c in range(3))] * 256
                )
                image.save(path.parent / "one.png")
                z.write(path.parent / "one.png", f"pets/{name}/{i}.png")


def test_upload_a_zip_of_photos_train_unlearn_and_see_results(server, tmp_path):  # noqa: F811 - the fixture
    archive = tmp_path / "pets.zip"
    photos_zip(archive)
    with chromium() as browser:
        page = browser_page(browser, f"{server}/model-and-data")
        idle(page)
        main, sidebar = page.get_by_test_id("stMain"), page.get_by_test_id("stSidebar")
        expect(page.get_by_role("heading", name="Model and data")).to_be_visible(timeout=LONG)
        box = main.get_by_test_id("stExpander").filter(has_text="Your own images")
        box.get_by_text("Your own images").click()
        box.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(archive)
        idle(page)
        expect(main).to_contain_text("Unpacked pets.zip", timeout=LONG)
        expect(main).to_contain_text(f"{HOSTILE} (24 + 6)")  # the class name as text
        expect(sidebar).to_contain_text("no Small CNN model for this data set yet")
        shot(page, "upload-1-unpacked")

        epochs = main.get_by_role("spinbutton", name="Epochs")  # Train now is the first tab: no model yet
        epochs.fill("8")
        epochs.press("Enter")
        idle(page)
        main.get_by_role("button", name="Train a model").click()
        idle(page)
        expect(main).to_contain_text("it is now the selected model", timeout=LONG)
        expect(sidebar).to_contain_text("pets-smallcnn-8ep")
        shot(page, "upload-2-trained")

        go(page, "Forget classes and noise")
        select = page.get_by_test_id("stMultiSelect").filter(has_text="Forget classes")
        select.locator("input").click()
        page.keyboard.type(HOSTILE)
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        idle(page)
        expect(sidebar).to_contain_text(HOSTILE)
        go(page, "Impair and repair")
        page.get_by_role("button", name="Run UNSIR", exact=True).click()
        idle(page)
        expect(page.get_by_text("Last run:").first).to_be_visible(timeout=LONG)

        go(page, "Results")
        expect(main).to_contain_text("A_Df")
        expect(main.locator(".js-plotly-plot").first).to_be_visible()
        expect(page.locator("i", has_text="owl")).to_have_count(0)  # no folder name became an element
        shot(page, "upload-3-results")


def test_an_upload_after_an_architecture_change_selects_it_without_a_stale_error(server):  # noqa: F811 - the fixture
    """The reported sequence in the browser, which sends the store menu's old label back as a value (AppTest does
    not): change the architecture, upload a checkpoint of the other one."""
    with chromium() as browser:
        page = browser_page(browser, f"{server}/model-and-data")
        idle(page)
        main, sidebar = page.get_by_test_id("stMain"), page.get_by_test_id("stSidebar")
        expect(main.get_by_text("Selected model").first).to_be_visible(timeout=LONG)
        main.get_by_test_id("stSelectbox").filter(has_text="Architecture").click()
        page.get_by_role("option", name="All-CNN").click()
        idle(page)
        expect(sidebar).to_contain_text("shapes10-allcnn", timeout=LONG)
        main.get_by_role("tab", name="Upload").click()
        upload = main.get_by_test_id("stFileUploader").filter(has_text="Checkpoint file")
        upload.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(SHIPPED)
        idle(page)
        expect(main).to_contain_text("switched from All-CNN to Small CNN", timeout=LONG)
        expect(sidebar).to_contain_text("shapes10-smallcnn-2")
        expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
        shot(page, "upload-4-checkpoint-of-another-architecture")
