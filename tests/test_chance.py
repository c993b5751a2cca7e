"""A model that learned nothing says so: the chance check itself, `train` on a folder it cannot learn, and
UNSIR on that model."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tests.helpers import FAST, run_cli
from unsir_core.metrics.chance import chance_warning


@pytest.mark.parametrize(
    "acc, classes, arch, warns",
    [
        (10.4, 10, "vit_small", True),  # the ViT on ten letters
        (94.0, 10, "smallcnn", False),
        (55.0, 2, "resnet18", True),
        (76.0, 2, "resnet18", False),
    ],
)
def test_near_chance_warns_with_what_to_try(acc, classes, arch, warns):
    warning = chance_warning(acc, classes, arch)
    assert (warning is not None) == warns
    if warns:
        assert f"{acc:.1f}%" in warning and f"{100 / classes:.1f}% for {classes} classes" in warning
        assert "more epochs" in warning and "smallcnn" in warning
        assert ("--pretrained" in warning) == (arch == "resnet18")  # only where ImageNet weights exist


def test_train_then_unlearn_on_a_model_at_chance_warn(tmp_path, capsys):
    """Every image is the same grey square, so no model can tell the classes apart: test accuracy is exactly
    the share of one class (1/3)."""
    for name in ("ant", "bee", "cat"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(10):
            Image.new("RGB", (16, 16), (128, 128, 128)).save(tmp_path / "data" / name / f"{i}.png")
    data = f"folder:{tmp_path / 'data'}"
    ckpt = tmp_path / "m.safetensors"
    code, out, err = run_cli(
        capsys, "train", "--dataset", data, "--epochs", "1", "--batch-size", "8", "--out", str(ckpt), "--quiet",
        "--device", "cpu",
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert report["info"]["test_acc"] == pytest.approx(100 / 3, abs=0.01)
    assert "near chance (33.3% for 3 classes" in report["warning"] and f"warning: {report['warning']}" in err

    code, out, err = run_cli(
        capsys,
        "unlearn",
        "--dataset",
        data,
        "--checkpoint",
        str(ckpt),
        "--forget",
        "bee",
        *FAST,
        "--retain-per-class",
        "4",
    )
    assert code == 0, err
    chance = json.loads(out)["extras"]["chance_warning"]
    assert "near chance" in chance
    assert f"warning: forgetting is meaningless on a model that learned nothing: {chance}" in err
