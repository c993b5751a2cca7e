"""`unlearn --checkpoint` on a user's own model and data: a tiny image folder, a model trained on it by the
command line's own `train`, then unlearned by file, with and without `--dataset` (the checkpoint names it)."""

from __future__ import annotations

import json
import random

import pytest
from PIL import Image

from tests.helpers import FAST, run_cli
from unsir_core.checkpoints.store import read_info

COLOURS = ("red", "green", "blue")


@pytest.fixture
def colour_folder(tmp_path):
    """Three classes of 16x16 images, 20 each: one bright channel per class, with noise."""
    rng = random.Random(0)
    for channel, name in enumerate(COLOURS):
        folder = tmp_path / "colours" / name
        folder.mkdir(parents=True)
        for i in range(20):
            image = Image.new("RGB", (16, 16))
            image.putdata(
                [
                    tuple(rng.randint(150, 255) if c == channel else rng.randint(0, 90) for c in range(3))
                    for _ in range(256)
                ]
            )
            image.save(folder / f"{i}.png")
    return tmp_path / "colours"


@pytest.mark.slow
def test_unlearn_takes_a_users_own_checkpoint_on_an_image_folder(capsys, tmp_path, colour_folder):
    dataset = f"folder:{colour_folder}"
    model, run, unlearned = tmp_path / "mine.safetensors", tmp_path / "run.json", tmp_path / "u.safetensors"
    status, _, err = run_cli(capsys, "train", "--dataset", dataset, "--epochs", "3", "--quiet", "--out", str(model))
    assert status == 0, err
    assert read_info(model).dataset == dataset
    args = ["unlearn", "--checkpoint", str(model), "--forget", "red", *FAST, "--retain-per-class", "10"]  # 16 here
    status, _, err = run_cli(capsys, *args, "--dataset", dataset, "--out", str(run), "--save-model", str(unlearned))
    assert status == 0, err
    report = json.loads(run.read_text())
    assert report["dataset"] == dataset and report["forget"] == ["red"]
    assert report["extras"]["original_file"] == "mine.safetensors"
    assert len(report["metrics"]["repair"]["per_class_acc"]) == 3
    info = read_info(unlearned)
    assert info.dataset == dataset and info.forgotten == (2,) and info.class_names == tuple(sorted(COLOURS))
    status, _, err = run_cli(capsys, *args, "--out", str(tmp_path / "again.json"))  # no --dataset: the checkpoint's
    assert status == 0, err
    assert json.loads((tmp_path / "again.json").read_text())["dataset"] == dataset
