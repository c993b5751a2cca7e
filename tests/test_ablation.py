"""UNSIR's ablations (common.config.ABLATIONS) and the stage targets of the auto recipe (issue 21): each part taken
out does what it says and nothing else; impair keeps BatchNorm's statistics when the recipe says so; the sweep
study states the noise's contribution; on the default, impair does the forgetting and repair restores the rest."""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers import FAST, run_cli
from unsir_core.algorithm.pipeline import run_unsir
from unsir_core.algorithm.recipe import choose_recipe
from unsir_core.algorithm.unlearn import run_phase, unlearn
from unsir_core.common.config import ABLATIONS, PhaseConfig
from unsir_core.common.errors import ConfigError
from unsir_core.experiments.studies import STUDIES, noise_contribution
from unsir_core.methods import METHODS


def states_equal(a, b) -> bool:
    sa, sb = a.net.state_dict(), b.net.state_dict()
    return all(torch.equal(sa[k], sb[k].to(sa[k].device)) for k in sa)


def test_each_ablation_takes_out_its_part_and_nothing_else(shipped_model, tiny_shapes, fast_config):
    runs = {
        a: unlearn(shipped_model, tiny_shapes, [3], fast_config.with_overrides(ablation=a), device="cpu")
        for a in ABLATIONS
    }
    assert runs["none"].noise is not None and len(runs["none"].noise.loss_history) == fast_config.noise.steps
    assert runs["no-noise"].noise is None  # impair on the retain subset only: no noise learned or used
    random = runs["random-noise"].noise
    assert random.loss_history == [] and random.images.shape == runs["none"].noise.images.shape
    assert random.forget_ce < runs["none"].noise.forget_ce  # optimising is what makes it error-maximizing
    assert states_equal(runs["no-impair"].impaired, shipped_model) and runs["no-impair"].losses["impair"] == []
    assert states_equal(runs["no-repair"].model, runs["no-repair"].impaired)
    assert runs["no-repair"].losses["repair"] == [] and runs["no-repair"].repair_outcome.epochs == 0
    assert "No repair" in runs["no-repair"].repair_outcome.message
    assert not states_equal(runs["no-noise"].impaired, runs["none"].impaired)  # the noise changes what impair does
    for a, r in runs.items():  # the forget-class images stay unread and the same retain subset is used
        assert torch.equal(r.retain_indices, runs["none"].retain_indices), a
        assert r.config.ablation == a


def test_an_unknown_ablation_is_refused_with_the_choices(fast_config):
    with pytest.raises(ConfigError, match="ablation must be one of none, no-noise"):
        fast_config.with_overrides(ablation="no-brain")


def test_fixed_batchnorm_keeps_the_running_statistics_through_impair(shipped_model, tiny_shapes):
    x, y = tiny_shapes.train_x[:64], tiny_shapes.train_y[:64]
    for mode, same in (("fixed", True), ("train", False)):
        work = shipped_model.copy()
        before = {k: v.clone() for k, v in work.net.state_dict().items() if "running" in k}
        run_phase(work, "impair", PhaseConfig(lr=0.01, batch_size=32, batchnorm=mode), x, y)
        after = work.net.state_dict()
        assert all(torch.equal(before[k], after[k]) for k in before) is same, mode


def test_the_auto_recipe_fixes_batchnorm_in_impair_only(shapes, shipped_model):
    cfg = choose_recipe(shapes, shipped_model.info, ["triangle"]).config
    assert (cfg.impair.batchnorm, cfg.repair.batchnorm) == ("fixed", "train")


def test_ablations_are_rows_of_compare_that_read_no_forget_image(shipped_model, tiny_shapes):
    names = [f"unsir_{a.replace('-', '_')}" for a in ABLATIONS if a != "none"]
    assert all(n in METHODS and not METHODS[n].reads_forget for n in names)
    assert METHODS["unsir_no_noise"].title == "UNSIR without noise"
    result = METHODS["unsir_no_repair"].run(
        shipped_model, tiny_shapes, [3], {"retain_per_class": 20, "noise_steps": 2}, device="cpu"
    )
    assert result.details["unsir_config"]["ablation"] == "no-repair" and not result.read_forget


def test_matched_finetune_runs_unsirs_repair_on_unsirs_retain_subset(shipped_model, tiny_shapes):
    method = METHODS["finetune_repair"]
    result = method.run(shipped_model, tiny_shapes, [3], {"seed": 1}, device="cpu")
    cfg = choose_recipe(tiny_shapes, shipped_model.info, [3], seed=1).config
    assert result.details["unsir_config"]["repair"] == cfg.to_dict()["repair"]
    assert result.details["retain_samples"] == cfg.retain_per_class * 9 and not result.read_forget


def test_the_contribution_pairs_seeds_and_forget_sets():
    def row(ablation, seed, impair, repair):
        return {
            "status": "ok",
            "ablation": ablation,
            "seed": seed,
            "forget": "triangle",
            "forget_acc_original": 90.0,
            "forget_acc_impair": impair,
            "forget_acc_repair": repair,
        }

    rows = [row("none", 0, 2.0, 0.0), row("none", 1, 4.0, 1.0), row("no-noise", 0, 80.0, 60.0)]
    rows += [row("no-noise", 1, 84.0, 70.0), row("no-repair", 0, 2.0, 2.0), row("none", 2, 9.0, 9.0)]
    c = noise_contribution(rows)
    assert c.seeds == 2 and c.with_noise == (3.0, 0.5) and c.without == (82.0, 65.0)  # seed 2 has no pair
    assert "after repair 0.5 ± 0.5% with noise, 65.0 ± 5.0% without" in c.sentence()
    assert noise_contribution([row("none", 0, 1.0, 1.0)]) is None


@pytest.mark.slow  # five runs on the full Shapes-10 with evaluation (minutes on the busy 2-core CPU)
def test_the_ablation_study_sweeps_every_ablation_and_prints_the_contribution(capsys):
    assert STUDIES["ablation"].values == tuple(ABLATIONS)
    code, out, err = run_cli(
        capsys, "sweep", "--study", "ablation", "--forget", "triangle", "--seeds", "0", "--no-cache", *FAST
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["cells"] == len(ABLATIONS)
    assert {r["ablation"] for r in report["rows"]} == set(ABLATIONS)
    assert "The noise's contribution over 1 seed" in err
    assert report["noise_contribution"]["seeds"] == 1


# The default of issue 21: Shapes-10, the shipped Small CNN, the auto recipe, forget triangle. Seed 0 only (the
# README gives seeds 0-2). Impair does the forgetting, repair restores the rest, and without the noise the same
# impair leaves triangle largely recognised (the repair after it then forgets it too: docs/recipe.md says so).
@pytest.mark.slow
def test_on_the_default_impair_forgets_repair_restores_and_the_noise_matters(shipped_model, shapes):
    recipe = choose_recipe(shapes, shipped_model.info, ["triangle"]).config
    full = run_unsir(shipped_model, shapes, ["triangle"], recipe, device="cpu").evaluations
    o, i, r = full["original"], full["impair"], full["repair"]
    assert i.forget_acc <= 10
    assert (o.forget_acc - i.forget_acc) / o.forget_acc > (o.retain_acc - i.retain_acc) / o.retain_acc
    assert r.forget_acc <= 2 and r.retain_acc >= 0.95 * o.retain_acc
    ablated = recipe.with_overrides(ablation="no-noise")
    without = run_unsir(shipped_model, shapes, ["triangle"], ablated, device="cpu").evaluations
    assert without["impair"].forget_acc >= 0.5 * o.forget_acc


def stages(original, impair, repair):
    return {
        s: {"forget_acc": f, "retain_acc": r}
        for s, (f, r) in (("original", original), ("impair", impair), ("repair", repair))
    }


def test_the_stage_words_follow_the_runs_numbers_not_the_textbook():
    from studio.captions import stage_caption
    from studio.diagram import pipeline

    textbook = stage_caption(stages((93.5, 94.3), (0.4, 57.9), (0.4, 90.6)))
    assert "Impair removed the forget classes and hit them harder" in textbook
    assert "restored the retained classes" in textbook and "stayed gone" in textbook
    # issue 21's measurement of the old recipe: impair hurt the rest more, repair did the forgetting
    old = stage_caption(stages((93.5, 94.3), (84.7, 35.7), (0.0, 92.2)))
    assert "Impair hit the retained classes harder than the forget classes" in old
    assert "also did the forgetting" in old and "not because of the noise" in old
    assert "Repair restored the retained classes" in old  # 92.2 >= 0.95 x 94.3
    assert "below 95% of the original's A_Dr" in stage_caption(stages((93.5, 94.3), (84.7, 35.7), (0.0, 80.0)))
    assert "Impair changed nothing" in stage_caption(stages((93.5, 94.3), (93.5, 94.3), (60.0, 93.0)))
    drawn = pipeline(stages((93.5, 94.3), (84.7, 35.7), (0.0, 92.2)))
    assert "Latest run: Impair hit the retained classes harder" in drawn and "Latest run:" not in pipeline()


def test_the_ablation_words_say_whether_the_noise_matters_on_this_run():
    from studio.captions import ablation_caption

    run = stages((93.5, 94.3), (0.4, 57.9), (0.4, 90.6))
    kept = ablation_caption("without noise", run, stages((93.5, 94.3), (85.4, 87.9), (69.7, 94.2)), "no-noise")
    assert "A_Df after impair: 0.4% with UNSIR, 85.4% without noise" in kept
    assert "here the noise does the forgetting" in kept
    lost = ablation_caption("without noise", run, stages((93.5, 94.3), (69.3, 90.6), (0.0, 93.3)), "no-noise")
    assert "cannot show that the noise matters" in lost
    failed = stages((93.5, 94.3), (98.9, 8.0), (98.1, 74.1))  # a retain subset far too small (40 per class)
    none = ablation_caption("without noise", failed, stages((93.5, 94.3), (50.6, 87.8), (81.6, 92.3)), "no-noise")
    assert "UNSIR itself did not forget here (A_Df 98.1% after repair" in none and "does the forgetting" not in none
    other = ablation_caption("without repair", run, stages((93.5, 94.3), (0.4, 57.9), (0.4, 57.9)), "no-repair")
    assert "noise" not in other.split(".")[-2]
