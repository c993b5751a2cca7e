"""The auto recipe (rules on fake class counts: floors and caps reached), settings validated before any work,
the collapse guard on a deliberately broken run, and the robustness matrix's quick form."""

from __future__ import annotations

import json

import pytest

from unsir_core.algorithm.recipe import (
    RATES,
    RETAIN_CAP,
    RETAIN_FLOOR,
    RETAIN_TOTAL,
    auto_recipe,
    choose_recipe,
    retain_rule,
)
from unsir_core.cli import main as cli
from unsir_core.common.config import UnsirConfig
from unsir_core.common.errors import ConfigError
from unsir_core.models import MODELS


def test_default_sized_classes_take_a_quarter_up_to_the_cap():
    r = auto_recipe([1000] * 10, [2], "smallcnn")
    assert r.config.retain_per_class == RETAIN_CAP == 250 and r.config.check.val_per_class == 50
    assert r.config.noise_copies * r.config.noise.batch_size == 256  # about one noise sample per retain image
    assert "a quarter" in r.choices[0]


def test_big_classes_stop_at_the_cap_and_small_ones_at_the_floor():
    assert auto_recipe([6000] * 10, [0], "smallcnn").config.retain_per_class == RETAIN_CAP
    small = auto_recipe([144] * 10, [3, 8], "smallcnn").config
    assert small.retain_per_class == RETAIN_FLOOR and small.check.val_per_class == 14
    assert small.retain_per_class + small.check.val_per_class <= 144


def test_the_rule_in_words_names_the_sizes_the_recipe_picks():
    """The Overview says this sentence instead of loading a data set: its numbers are the recipe's own."""
    floor = auto_recipe([144] * 10, [3], "smallcnn").config.retain_per_class
    cap = auto_recipe([6000] * 10, [3], "smallcnn").config.retain_per_class
    most = auto_recipe([6000] * 100, [3], "smallcnn").config.retain_per_class * 99
    assert (
        f"a quarter of the smallest retain class's training images, {floor} to {cap} per retain class" in retain_rule()
    )
    assert f"at most {RETAIN_TOTAL:,} in all" in retain_rule() and most <= RETAIN_TOTAL


def test_tiny_classes_give_all_they_have_and_batches_stay_small():
    r = auto_recipe([30] * 5, [0], "smallcnn")
    c = r.config
    assert c.retain_per_class + c.check.val_per_class == 30  # everything, split between subset and check
    assert c.impair.batch_size == 32 and c.repair.batch_size == 32  # the smallest batches: enough steps
    assert "all the smallest class has" in r.choices[0]


def test_many_classes_share_the_total_cap():
    c = auto_recipe([500] * 100, [7], "resnet18").config
    assert c.retain_per_class == RETAIN_TOTAL // 99 == 50  # the paper's CIFAR-100 value


def test_only_retain_classes_size_the_subset():
    assert auto_recipe([1000, 20, 1000], [1], "smallcnn").config.retain_per_class == RETAIN_CAP
    assert auto_recipe([1000, 20, 1000, 1000], [0], "smallcnn", forgotten=[1]).config.retain_per_class == RETAIN_CAP


def test_a_retain_class_with_one_image_is_refused():
    with pytest.raises(ConfigError, match="only 1 training image"):
        auto_recipe([100, 1, 100], [0], "smallcnn")


@pytest.mark.parametrize("arch", [a for a in MODELS if a != "vit_b_16"])
def test_rates_and_frozen_layers_follow_the_architecture(arch):
    spec = MODELS[arch]
    c = auto_recipe([1000] * 10, [0], arch).config
    assert c.impair.lr == RATES[spec.family].impair and c.repair.head_lr == RATES[spec.family].repair_head
    assert c.impair.frozen == c.repair.frozen == spec.early
    net = spec.create(10, 3, None)
    from unsir_core.common.optim import frozen_names

    assert frozen_names(net, spec.early)  # every prefix names parameters, and not all of them


def test_pretrained_models_get_the_papers_per_layer_rates():
    c = auto_recipe([1000] * 10, [0], "resnet18", pretrained=True).config
    assert (c.impair.lr, c.impair.head_lr, c.repair.lr, c.repair.head_lr) == (1e-4, 0.01, 1e-4, 0.005)
    assert c.impair.frozen == ()


def test_a_named_preset_is_taken_as_is(shapes, shipped_model):
    from unsir_core.algorithm.presets import PRESETS

    r = choose_recipe(shapes, shipped_model.info, ["star"], "paper-cifar10", seed=4)
    assert r.name == "paper-cifar10" and r.config == PRESETS["paper-cifar10"].config.with_overrides(seed=4)
    auto = choose_recipe(shapes, shipped_model.info, ["star"])
    assert auto.name == "auto" and auto.choices


# Each invalid setting of the issue, through the real entry point: `error:`, exit 2, named flag and range.
@pytest.mark.parametrize(
    "flags, message",
    [
        (["--impair-lr", "-1"], r"--impair-lr: impair\.lr = -1 is out of range: give a value above 0 up to 1"),
        (["--noise-steps", "-3"], r"--noise-steps: noise\.steps = -3 is out of range: give a value from 1 up to 5,000"),
        (["--noise-batch", "0"], r"--noise-batch: noise\.batch_size = 0 is out of range"),
        (["--impair-lr", "1e6"], r"--impair-lr: impair\.lr = 1e\+06 is out of range"),
        (["--impair-lr", "1e300"], r"--impair-lr: impair\.lr = 1e\+300 is out of range"),
        (["--repair-lr", "nan"], r"--repair-lr: repair\.lr must be a finite number"),
        (["--retain-per-class", "0"], r"--retain-per-class: retain_per_class = 0 is out of range"),
        (["--repair-epochs", "0"], r"--repair-epochs: repair\.epochs = 0 is out of range"),
        (["--preset", "bogus"], r"Unknown preset 'bogus'"),
    ],
)
def test_invalid_settings_fail_before_any_work(flags, message, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("data or model was loaded before the settings were checked")

    monkeypatch.setattr("unsir_core.cli.unlearn.load_data_and_model", no_work)
    assert cli.main(["unlearn", "--forget", "triangle", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and pytest.importorskip("re").search(message, err)


def test_the_config_names_every_bad_setting_and_its_range():
    with pytest.raises(ConfigError, match=r"check\.guard = 2 is out of range: give a value from 0 up to 1"):
        UnsirConfig().with_overrides(**{"check.guard": 2.0})
    with pytest.raises(ConfigError, match="Unknown UNSIR setting"):
        UnsirConfig().with_overrides(**{"impair.speed": 2})
    with pytest.raises(ConfigError, match=r"impair\.optimizer must be one of adam, sgd"):
        UnsirConfig().with_overrides(**{"impair.optimizer": "rmsprop"})


def broken(config: UnsirConfig) -> UnsirConfig:
    """A run built to collapse: the highest impair rate on every layer, and a repair too weak to heal it."""
    return config.with_overrides(
        **{
            "impair.lr": 1.0,
            "impair.frozen": (),
            "impair.head_lr": None,
            "repair.lr": 1e-6,
            "repair.head_lr": None,
            "repair.epochs": 1,
            "check.extra_epochs": 0,
        }
    )


def test_the_guard_fires_on_a_broken_run_with_the_numbers_and_a_suggestion(shipped_model, tiny_shapes):
    from unsir_core.algorithm.pipeline import run_unsir

    cfg = broken(choose_recipe(tiny_shapes, shipped_model.info, [1]).config)
    run = run_unsir(shipped_model, tiny_shapes, [1], cfg, "cpu")
    outcome = run.result.repair_outcome
    assert run.degraded and outcome.degraded and outcome.accuracy < cfg.check.guard * outcome.original_acc
    assert "Degraded" in outcome.message and "retain images per class" in outcome.message
    assert "lower impair learning rate (now 1)" in outcome.message
    assert run.to_json()["degraded"] is True


def test_a_healthy_run_passes_the_guard_and_reports_its_epochs(shipped_model, tiny_shapes):
    from unsir_core.algorithm.pipeline import run_unsir

    recipe = choose_recipe(tiny_shapes, shipped_model.info, [1])
    run = run_unsir(shipped_model, tiny_shapes, [1], recipe.config, "cpu", recipe=recipe)
    check = run.to_json()["repair_check"]
    assert not run.degraded and check["held_out"] > 0
    assert 1 <= check["epochs"] <= recipe.config.repair.epochs + recipe.config.check.extra_epochs
    assert len(check["history"]) == check["epochs"] and check["gap"] >= 0
    assert run.to_json()["recipe"]["name"] == "auto"


@pytest.mark.slow
def test_cli_refuses_to_save_a_degraded_result_unless_allowed(tmp_path, capsys, monkeypatch):
    import unsir_core.algorithm.recipe as recipe_module

    real = recipe_module.auto_recipe
    monkeypatch.setattr(
        recipe_module, "auto_recipe", lambda *a, **k: real(*a, **k).__class__("auto", broken(real(*a, **k).config), ())
    )
    out, model = tmp_path / "r.json", tmp_path / "m.safetensors"
    args = ["unlearn", "--forget", "triangle", "--quiet", "--out", str(out), "--save-model", str(model)]
    assert cli.main(args) == 3
    captured = capsys.readouterr()
    assert "Degraded" in captured.err and "Nothing was saved" in captured.err
    assert json.loads(captured.out)["degraded"] is True
    assert not out.exists() and not model.exists() and not list(tmp_path.iterdir())
    assert cli.main([*args, "--allow-degraded"]) == 0
    assert out.exists() and model.exists()


@pytest.mark.slow
def test_quick_robustness_matrix_runs_and_meets_the_criteria(tmp_path, capsys):
    """The matrix CI runs: two small data sets the recipe was (Shapes-5) and was not (real digits) tuned on."""
    out = tmp_path / "matrix.json"
    assert (
        cli.main(["robustness", "--quick", "--quiet", "--out", str(out), "--markdown", str(tmp_path / "matrix.md")])
        == 0
    )
    report = json.loads(out.read_text())
    assert {r["data"] for r in report["rows"]} == {"shapes5-200", "digits-folder"}
    assert any(r["held_out"] for r in report["rows"]) and any(not r["held_out"] for r in report["rows"])
    for row in report["rows"]:
        assert row["forget_acc"] <= 2.0 and row["retain_share"] >= 90.0, row
    assert "| held out |" in (tmp_path / "matrix.md").read_text()
