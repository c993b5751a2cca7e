"""The command line end to end: JSON on stdout and in --out, exit status 2 with a clear message on
bad input, and nothing already saved overwritten."""

import csv
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import FAST

ROOT = Path(__file__).resolve().parent.parent


def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "unsir_core", *args], cwd=ROOT, capture_output=True, text=True, timeout=600
    )


@pytest.mark.slow
def test_unlearn_prints_and_writes_the_documented_json(tmp_path):
    out = tmp_path / "result.json"
    res = cli("unlearn", "--dataset", "shapes10", "--forget", "circle,2", "--seed", "1", "--out", str(out), *FAST)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data == json.loads(res.stdout)
    assert data["forget"] == ["circle", "triangle"] and data["config"]["seed"] == 1
    assert set(data["timings_s"]) >= {"noise", "impair", "repair", "evaluate"}
    for stage in ("original", "impair", "repair"):
        assert 0 <= data["metrics"][stage]["forget_acc"] <= 100
        assert 0 <= data["metrics"][stage]["retain_acc"] <= 100
    assert sum(data["prediction_distribution"].values()) == data["metrics"]["repair"]["n_forget"]


@pytest.mark.slow
def test_train_then_evaluate_and_refuse_to_overwrite(tmp_path):
    ckpt = tmp_path / "m.safetensors"
    res = cli(
        "train",
        "--dataset",
        "shapes10",
        "--epochs",
        "1",
        "--exclude",
        "heart",
        "--out",
        str(ckpt),
        "--quiet",
        "--device",
        "cpu",
    )
    assert res.returncode == 0, res.stderr
    info = json.loads(res.stdout)["info"]
    assert info["forgotten"] == [7] and info["origin"] == "retrained"
    before = ckpt.read_bytes()
    again = cli("train", "--dataset", "shapes10", "--epochs", "1", "--out", str(ckpt), "--quiet")
    assert again.returncode == 2 and "already exists" in again.stderr
    assert ckpt.read_bytes() == before
    ev = cli("evaluate", "--dataset", "shapes10", "--checkpoint", str(ckpt), "--quiet")
    assert ev.returncode == 0, ev.stderr
    assert json.loads(ev.stdout)["forget"] == ["heart"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--forget", "dragon"], "Unknown class 'dragon'"),
        (["--forget", ""], "forget set is empty"),
        (["--forget", ",".join(str(i) for i in range(10))], "nothing to retain"),
        (["--forget", "0", "--retain-per-class", "5000"], "use at most"),
        (["--forget", "0", "--preset", "nope"], "Unknown preset"),
        (["--forget", "0", "--dataset", "cifar10", "--offline"], "CIFAR-10"),
        (["--forget", "0", "--arch", "resnet18"], "No trained model"),
        (["--forget", "²"], "Unknown class '²'"),
        (["--forget", "0", "--device", "tpu"], "Unknown device 'tpu'"),
        (["--forget", "0", "--seed", "99999999999999999999"], "give a seed from 0 to 2147483647"),
        (["--forget", "0", "--save-model", "out.pt"], "should end in .safetensors"),
    ],
)
@pytest.mark.slow
def test_bad_input_exits_2_with_a_clear_message(tmp_path, args, message):
    res = cli("unlearn", "--data-root", str(tmp_path), "--quiet", *args)
    assert res.returncode == 2
    assert message in res.stderr and "error:" in res.stderr
    assert "Traceback" not in res.stderr


def test_malicious_checkpoint_is_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    with open(evil, "wb") as f:
        pickle.dump({"x": subprocess.Popen}, f)
    res = cli("evaluate", "--checkpoint", str(evil), "--arch", "smallcnn", "--quiet")
    assert res.returncode == 2 and "would run code" in res.stderr


@pytest.mark.slow
def test_bench_smoke_prints_its_table(tmp_path):
    out = tmp_path / "bench.json"
    res = cli("bench", "--device", "cpu", "--quick", "--out", str(out))
    assert res.returncode == 0, res.stderr
    report = json.loads(out.read_text())
    row = report["rows"][0]
    assert row["total_ms"] > 0 and row["images_per_s"]["train"] > 0 and row["gradcam_32_ms"] > 0
    assert "UNSIR total ms" in res.stderr


@pytest.mark.slow
def test_sweep_writes_the_table_and_reruns_from_the_cache(tmp_path):
    out = tmp_path / "sweep.csv"
    args = ("sweep", "--set", "impair.lr=0.001,0.1", "--seeds", "0", "--forget", "triangle", "--out", str(out), *FAST)
    res = cli(*args)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    assert (report["cells"], report["ran"], report["preset"]) == (2, 2, "auto")  # the base is unlearn's
    header = next(csv.reader(out.read_text().splitlines()))  # text cells are quoted (escaping.csv_text)
    assert header[:6] == ["cell", "forget", "n_forget", "impair.lr", "seed", "status"]
    assert "forget_acc_repair" in res.stderr  # the summary table
    assert cli(*args).returncode == 2  # the table exists: refused without --force
    again = cli(*args, "--force")
    assert again.returncode == 0 and json.loads(again.stdout)["ran"] == 0


@pytest.mark.slow
def test_sweep_refuses_bad_grids_before_running(tmp_path):
    bad = cli("sweep", "--set", "impair.speed=1,2", "--forget", "triangle", *FAST)
    assert bad.returncode == 2 and "Unknown setting 'impair.speed'" in bad.stderr
    wrong = cli("sweep", "--set", "impair.lr=0.1", "--forget", "triangle", "--out", str(tmp_path / "s.xlsx"), *FAST)
    assert wrong.returncode == 2 and "should end in .csv or .parquet or .json" in wrong.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["train", "--epochs", "0"], "--epochs: epochs = 0 is out of range: give a value from 1 up to 500"),
        (["train", "--epochs", "-1"], "--epochs: epochs = -1 is out of range"),
        (
            ["train", "--batch-size", "0"],
            "--batch-size: batch_size = 0 is out of range: give a value from 1 up to 8,192",
        ),
        (["train", "--batch-size", "-5"], "--batch-size: batch_size = -5 is out of range"),
        (["train", "--lr", "-1"], "--lr: lr = -1 is out of range: give a value above 0 up to 1"),
        (["train", "--width", "nan"], "--width must be a finite number from 0 to 8, not nan"),
        (["train", "--width", "1e9"], "--width = 1e+09 is out of range: give a value above 0 up to 8"),
        (["train", "--width", "0"], "--width = 0 is out of range: give a value above 0 up to 8"),
        (["train", "--width", "-1"], "--width = -1 is out of range"),
        (["train", "--input-size", "4"], "--input-size: input_size = 4 is out of range: give a value from 8 up to 512"),
        (
            ["train", "--arch", "vit_small", "--input-size", "28"],
            "--input-size: ViT (small, 32x32) takes images of 32 px",
        ),
        (["compare", "--forget", "star", "--set", "finetune.lr=-1"], "finetune.lr = -1 is out of range"),
        (["compare", "--forget", "star", "--set", "finetune.epochs=0"], "finetune.epochs = 0 is out of range"),
        (["compare", "--forget", "star", "--set", "retrain.epochs=501"], "retrain.epochs = 501 is out of range"),
        (["compare", "--forget", "star", "--set", "scrub.temperature=0"], "scrub.temperature = 0 is out of range"),
        (["bench", "--repeats", "0"], "--repeats = 0 is out of range: give a value from 1 up to 100"),
        (["robustness", "--seeds", "-1"], "--seeds = -1 is out of range: give a value from 0 up to 2,147,483,647"),
        (["robustness", "--ablation", "none,no-magic"], "Unknown ablation 'no-magic' for the robustness matrix"),
    ],
)
@pytest.mark.slow
def test_every_command_ranges_its_input_before_any_work(tmp_path, args, message):
    out = tmp_path / "m.safetensors"
    res = cli(*args, *(["--out", str(out)] if args[0] == "train" else []))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith("error: ") and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not out.exists()


@pytest.mark.slow
def test_a_sweep_too_large_is_refused_before_any_work(tmp_path):
    values = ",".join(str(v) for v in range(1, 101))
    res = cli(
        "sweep",
        "--forget",
        "star",
        "--set",
        f"noise.steps={values}",
        "--set",
        f"noise_copies={values}",
        "--seeds",
        ",".join(str(s) for s in range(100)),
        "--out",
        str(tmp_path / "s.csv"),
        *FAST,
    )
    assert res.returncode == 2 and res.stderr.startswith("error: "), res.stderr
    assert "This sweep has 1,000,000 runs" in res.stderr and "at most 1,000" in res.stderr
    ten = lambda lo, step=1: ",".join(str(lo + i * step) for i in range(10))  # 1,000 runs of hundreds of epochs
    slow = cli(
        "sweep",
        "--forget",
        "star",
        "--set",
        f"noise.steps={ten(4000, 100)}",
        "--set",
        f"impair.epochs={ten(91)}",
        "--set",
        f"repair.epochs={ten(91)}",
        "--quiet",
        "--device",
        "cpu",
    )
    assert slow.returncode == 2 and "hours here" in slow.stderr and "s per run, estimated" in slow.stderr, slow.stderr
    assert not (tmp_path / "s.csv").exists()


@pytest.fixture(scope="module")
def run_json(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("run") / "run.json"
    res = cli("unlearn", "--forget", "star", "--out", str(out), *FAST)
    assert res.returncode == 0, res.stderr
    return json.loads(out.read_text())


GONE = object()


def _with(run: dict, value, *path: str) -> dict:
    """A copy of `run` with the value at `path` replaced by `value` (removed for GONE)."""
    run = json.loads(json.dumps(run))
    *parents, last = path
    place = run
    for key in parents:
        place = place[key]
    if value is GONE:
        del place[last]
    else:
        place[last] = value
    return run


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda r: {"metrics": {}}, "$ has no 'dataset'"),
        (lambda r: _with(r, GONE, "timings_s"), "$ has no 'timings_s'"),
        (lambda r: _with(r, GONE, "metrics", "repair"), "$.metrics has no 'repair'"),
        (lambda r: _with(r, "x", "timings_s", "unlearn"), "$.timings_s.unlearn must be a number from 0"),
        (lambda r: _with(r, -5, "timings_s", "noise"), "$.timings_s.noise must be a number from 0"),
        (lambda r: _with(r, 250.0, "metrics", "repair", "forget_acc"), "$.metrics.repair.forget_acc must be a number"),
        (lambda r: _with(r, [1.0], "metrics", "original", "per_class_acc"), "must hold one value per class (10)"),
        (lambda r: _with(r, ["dragon"], "forget"), "$.forget names 'dragon', which is not in class_names"),
        (lambda r: _with(r, "seven", "config", "seed"), "$.config.seed must be a whole number from 0"),
        (
            lambda r: _with(r, [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[0]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]], "extras", "deep"),
            "$ nests lists or objects more than 32 deep",
        ),
    ],
)
@pytest.mark.slow
def test_report_refuses_a_run_json_of_the_wrong_shape(tmp_path, run_json, damage, message):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(damage(run_json)))
    res = cli("report", str(path))
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"error: {path} is not a run JSON: ") and message in res.stderr, res.stderr
    assert "Traceback" not in res.stderr and not path.with_suffix(".html").exists()


@pytest.mark.slow
def test_report_refuses_json_nested_100000_deep_and_renders_a_real_run(tmp_path, run_json):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    res = cli("report", str(deep))
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.startswith(f"error: {deep} is not a run JSON: it nests lists or objects more than 32 deep")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(run_json))
    res = cli("report", str(good))
    assert res.returncode == 0, res.stderr
    assert "Unlearning report: forget star" in good.with_suffix(".html").read_text()
