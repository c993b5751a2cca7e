"""Bad command-line input fails before any work with a clear error; class names with commas can be chosen;
evaluate flags NaN weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers import SHIPPED, run_cli
from unsir_core.cli.common import classes
from unsir_core.common.errors import ConfigError

# --- command line ---------------------------------------------------------------------------------------


def cli_cases(tmp: Path) -> dict[str, list[str]]:
    (tmp / "afile").write_text("x")
    (tmp / "taken.json").write_text("keep")
    for name in ("m.ckpt", "m.bin"):
        (tmp / name).write_bytes(SHIPPED.read_bytes())
    return {
        "forget-superscript": ["unlearn", "--forget", "²"],
        "huge-seed": ["unlearn", "--forget", "0", "--seed", "99999999999999999999"],
        "device-tpu": ["unlearn", "--forget", "0", "--device", "tpu"],
        "ckpt-with-arch": ["evaluate", "--checkpoint", str(tmp / "m.ckpt"), "--arch", "smallcnn"],
        "bin-with-arch": ["unlearn", "--forget", "0", "--checkpoint", str(tmp / "m.bin"), "--arch", "smallcnn"],
        "save-model-pt": ["unlearn", "--forget", "0", "--save-model", str(tmp / "out.pt")],
        "save-model-under-file": ["unlearn", "--forget", "0", "--save-model", str(tmp / "afile" / "m.safetensors")],
        "out-under-file": ["unlearn", "--forget", "0", "--out", str(tmp / "afile" / "r.json")],
        "out-exists": ["unlearn", "--forget", "0", "--out", str(tmp / "taken.json")],
        "train-out-missing-folder": ["train", "--out", str(tmp / "missing" / "m.safetensors")],
        "compare-out-suffix": ["compare", "--forget", "0", "--format", "csv", "--out", str(tmp / "t.json")],
        "reference-missing": ["compare", "--forget", "0", "--reference", str(tmp / "none.safetensors")],
    }


@pytest.mark.parametrize(
    "case",
    [
        "forget-superscript",
        "huge-seed",
        "device-tpu",
        "ckpt-with-arch",
        "bin-with-arch",
        "save-model-pt",
        "save-model-under-file",
        "out-under-file",
        "out-exists",
        "train-out-missing-folder",
        "compare-out-suffix",
        "reference-missing",
    ],
)
def test_bad_cli_input_fails_before_any_work(tmp_path, capsys, monkeypatch, case):
    import unsir_core.algorithm.unlearn
    import unsir_core.experiments.compare
    import unsir_core.training.train

    for module, name in (
        (unsir_core.algorithm.unlearn, "optimize_noise"),
        (unsir_core.training.train, "fit"),
        (unsir_core.experiments.compare, "compare"),
    ):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("work started"))
    code, out, err = run_cli(capsys, *cli_cases(tmp_path)[case], "--quiet")
    assert code == 2 and "error:" in err and "Traceback" not in err, err
    assert out == ""
    assert (tmp_path / "taken.json").read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "m.bin", "m.ckpt", "taken.json"]


def test_class_names_with_commas_and_edge_spaces_can_be_chosen():
    from unsir_core.data import ImageData

    x, y = torch.zeros(3, 3, 4, 4, dtype=torch.uint8), torch.arange(3)
    data = ImageData("toy", ("a, b", " c ", "c"), x, y, x, y, (0.5,) * 3, (0.25,) * 3)
    assert data.resolve_classes(classes('"a, b"')) == [0]
    assert data.resolve_classes(classes('" c ", 2')) == [1, 2]
    assert data.resolve_classes(classes("c")) == [2]
    with pytest.raises(ConfigError, match="Unbalanced"):
        classes('"a, b')


def test_evaluate_flags_nan_weights(tmp_path, capsys, shipped_model):
    from unsir_core.checkpoints.store import save_model

    broken = shipped_model.copy()
    with torch.no_grad():
        broken.net.fc.weight.fill_(float("nan"))
    path = save_model(broken, tmp_path / "nan.safetensors")
    code, out, err = run_cli(
        capsys, "evaluate", "--checkpoint", str(path), "--forget", "triangle", "--quiet", "--device", "cpu"
    )
    assert code == 0, err
    report = json.loads(out, parse_constant=lambda c: pytest.fail(f"bare {c} in the JSON"))
    assert report["non_finite_weights"] == ["fc.weight"]
    assert "broken" in report["warning"] and "warning:" in err
