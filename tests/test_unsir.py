"""UNSIR itself: the noise raises the forget loss, impair + repair forget without losing the retain
classes, zero-glance, no mutation of the input, sequential requests, and bad input."""

import json
from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from unsir_core.algorithm.noise import freeze, optimize_noise
from unsir_core.algorithm.pipeline import run_unsir
from unsir_core.algorithm.presets import PRESETS
from unsir_core.algorithm.unlearn import sample_retain_subset, split_retain, unlearn
from unsir_core.common.config import NoiseConfig, PhaseConfig, UnsirConfig
from unsir_core.common.errors import Cancelled, CheckpointError, ConfigError, DivergedError


def state_copy(model):
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def same_state(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_noise_raises_the_forget_loss(shipped_model):
    work = shipped_model.copy()
    freeze(work)
    g = torch.Generator().manual_seed(0)
    start = torch.randn(32, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    labels = torch.full((32,), 2)
    with torch.no_grad():
        ce_start = F.cross_entropy(work.net(start), labels).item()
    noise = optimize_noise(work, [2], NoiseConfig(batch_size=32, steps=20), g)
    assert noise.images.shape == (32, 3, 32, 32)
    assert noise.labels.tolist() == [2] * 32
    assert noise.forget_ce > ce_start + 1.0
    assert noise.loss_history[-1] < noise.loss_history[0]


def test_noise_labels_each_class_separately(shipped_model):
    work = shipped_model.copy()
    freeze(work)
    noise = optimize_noise(work, [1, 4, 7], NoiseConfig(batch_size=8, steps=2), torch.Generator().manual_seed(0))
    assert noise.labels.tolist() == [1] * 8 + [4] * 8 + [7] * 8


def test_noise_step_leaves_batchnorm_statistics_alone(shipped_model):
    work = shipped_model.copy()
    before = state_copy(work)
    freeze(work)
    optimize_noise(work, [0], NoiseConfig(batch_size=8, steps=3), torch.Generator().manual_seed(0))
    assert same_state(before, state_copy(work))


# Triangle is the class the README headlines; circle is the hardest single class (heart, its nearest shape,
# takes its predictions; 93.1-93.5% of the original's A_Dr over seeds 0-2); three classes at once. The bounds
# are the engine's done-criteria (A_Df <= 2%, A_Dr >= 90% of the original's), met at seed 0 with 3.5+ points.
@pytest.mark.parametrize("forget", [["triangle"], ["circle"], ["square", "star", "heart"]])
@pytest.mark.slow
def test_unsir_forgets_and_keeps_the_rest(shipped_model, shapes, forget):
    preset = PRESETS["shapes10"].config
    run = run_unsir(shipped_model, shapes, forget, preset, device="cpu")
    original, impair, repair = (run.evaluations[k] for k in ("original", "impair", "repair"))
    assert original.forget_acc > 80
    # Impair damages the network. Where A_Df lands after impair depends on the run: the paper's CIFAR-10
    # run reached 0.6%; with the tuned preset a damaged model may call every image the forget class
    # (arrow, seed 2: A_Df 96%, A_Dr 24%) before repair takes that away.
    assert impair.retain_acc < 0.8 * original.retain_acc
    assert repair.forget_acc <= 2
    assert repair.retain_acc >= 0.9 * original.retain_acc
    assert sum(repair.prediction_distribution) == repair.n_forget
    assert set(run.timings_s) >= {"noise", "impair", "repair", "evaluate", "total"}


def test_input_model_is_not_modified(shipped_model, tiny_shapes, fast_config):
    before = state_copy(shipped_model)
    mode = shipped_model.net.training
    result = unlearn(shipped_model, tiny_shapes, [0], fast_config, device="cpu")
    assert same_state(before, state_copy(shipped_model))
    assert shipped_model.net.training == mode
    assert all(p.grad is None for p in shipped_model.net.parameters())
    assert all(p.requires_grad for p in shipped_model.net.parameters())
    assert not same_state(before, state_copy(result.model))
    assert result.model.info.forgotten == (0,) and shipped_model.info.forgotten == ()


def test_zero_glance_forget_training_images_are_never_read(shipped_model, tiny_shapes, fast_config):
    """Scrambling every forget-class training image, or deleting them, changes nothing at all."""
    forget = [3]
    mask = tiny_shapes.train_y == 3
    scrambled = tiny_shapes.train_x.clone()
    scrambled[mask] = torch.randint(0, 256, scrambled[mask].shape, dtype=torch.uint8)
    poisoned = replace(tiny_shapes, train_x=scrambled)
    removed = replace(tiny_shapes, train_x=tiny_shapes.train_x[~mask], train_y=tiny_shapes.train_y[~mask])

    runs = [unlearn(shipped_model, d, forget, fast_config, device="cpu") for d in (tiny_shapes, poisoned, removed)]
    states = [state_copy(r.model) for r in runs]
    assert same_state(states[0], states[1])
    assert same_state(states[0], states[2])
    assert not mask[runs[0].retain_indices].any()
    # The self-checking repair ran on held-out retain images, and saw the same thing in all three.
    outcomes = [r.repair_outcome for r in runs]
    assert outcomes[0].held_out > 0 and outcomes[0].history
    assert outcomes[0] == outcomes[1] == outcomes[2]


def test_check_images_are_retain_classes_outside_the_retain_subset(tiny_shapes):
    retain = [0, 1, 2, 4]
    idx, held = split_retain(tiny_shapes.train_y, retain, 20, 15, seed=0)
    assert set(tiny_shapes.train_y[held].tolist()) <= set(retain)
    assert not set(idx.tolist()) & set(held.tolist())
    counts = torch.bincount(tiny_shapes.train_y[held], minlength=10)
    assert all(0 < counts[c] <= 15 for c in retain)  # what each class has left, at most 15


def test_retain_subset_is_per_class_and_seeded(tiny_shapes):
    idx = sample_retain_subset(tiny_shapes.train_y, [0, 1, 2], 5, seed=3)
    assert torch.bincount(tiny_shapes.train_y[idx], minlength=10)[:3].tolist() == [5, 5, 5]
    assert torch.equal(idx, sample_retain_subset(tiny_shapes.train_y, [0, 1, 2], 5, seed=3))
    assert not torch.equal(idx, sample_retain_subset(tiny_shapes.train_y, [0, 1, 2], 5, seed=4))


def test_sequential_requests_keep_earlier_classes_out(shipped_model, tiny_shapes, fast_config):
    first = unlearn(shipped_model, tiny_shapes, ["circle"], fast_config, device="cpu").model
    second = unlearn(first, tiny_shapes, ["ring"], fast_config, device="cpu")
    assert second.model.info.forgotten == (0, 5)
    assert not torch.isin(tiny_shapes.train_y[second.retain_indices], torch.tensor([0, 5])).any()
    with pytest.raises(ConfigError, match="nothing to retain"):
        unlearn(second.model, tiny_shapes, list(range(1, 10)), fast_config, device="cpu")


def test_progress_reports_every_phase_and_cancel_stops(shipped_model, tiny_shapes, fast_config):
    events = []
    unlearn(shipped_model, tiny_shapes, [1], fast_config, device="cpu", progress=events.append, monitor_every=2)
    phases = [e.phase for e in events]
    assert phases[0] == "noise" and "impair" in phases and "repair" in phases and phases[-1] == "check"
    steps = [e for e in events if e.phase != "check"]
    assert all(e.loss is not None and e.elapsed_s >= 0 and 1 <= e.step <= e.total for e in steps)
    assert any("forget_acc" in e.metrics for e in events)
    assert all("check_acc" in e.metrics for e in events if e.phase == "check")

    class StopAfter:
        def __init__(self, n):
            self.n = n

        def is_set(self):
            self.n -= 1
            return self.n < 0

    with pytest.raises(Cancelled):
        unlearn(shipped_model, tiny_shapes, [1], fast_config, device="cpu", cancel=StopAfter(3))


@pytest.mark.parametrize("with_progress", [False, True])
def test_diverging_impair_stops_and_names_the_step(shipped_model, tiny_shapes, fast_config, with_progress, monkeypatch):
    import types

    import unsir_core.algorithm.unlearn as engine

    before = state_copy(shipped_model)
    nan_loss = lambda *a, **k: F.cross_entropy(*a, **k) * float("nan")  # noqa: E731 (impair's and repair's loss)
    monkeypatch.setattr(engine, "F", types.SimpleNamespace(cross_entropy=nan_loss))
    with pytest.raises(DivergedError, match=r"impair loss became NaN or inf at step \d+") as err:
        unlearn(
            shipped_model,
            tiny_shapes,
            [1],
            fast_config,
            device="cpu",
            progress=(lambda e: None) if with_progress else None,
        )
    assert err.value.step >= 1
    assert same_state(before, state_copy(shipped_model))


@pytest.mark.parametrize(
    "forget, message",
    [
        ([], "empty"),
        (["dragon"], "Unknown class 'dragon'"),
        ([42], "out of range"),
        (list(range(10)), "nothing to retain"),
    ],
)
def test_bad_forget_requests(shipped_model, tiny_shapes, fast_config, forget, message):
    with pytest.raises(ConfigError, match=message):
        unlearn(shipped_model, tiny_shapes, forget, fast_config, device="cpu")


def test_too_many_retain_samples_says_the_maximum(shipped_model, tiny_shapes, fast_config):
    with pytest.raises(ConfigError, match="use at most"):
        unlearn(shipped_model, tiny_shapes, [0], replace(fast_config, retain_per_class=10_000), device="cpu")


def test_model_for_another_class_count_is_refused(shipped_model, tiny_shapes, fast_config):
    other = replace(tiny_shapes, class_names=tiny_shapes.class_names[:9] + ("x", "y"))
    with pytest.raises(CheckpointError, match="10 classes"):
        unlearn(shipped_model, other, [0], fast_config, device="cpu")


STEM = ("features.0", "features.1")


def test_frozen_layers_keep_their_weights_and_the_result_stays_trainable(shipped_model, tiny_shapes, fast_config):
    cfg = fast_config.with_overrides(**{"impair.frozen": STEM, "repair.frozen": STEM})
    result = unlearn(shipped_model, tiny_shapes, [0], cfg, device="cpu")
    before, after = dict(shipped_model.net.named_parameters()), dict(result.model.net.named_parameters())
    frozen = [n for n in before if n.startswith(tuple(s + "." for s in STEM))]
    assert frozen and all(torch.equal(before[n], after[n]) for n in frozen)
    assert not torch.equal(before["features.2.0.weight"], after["features.2.0.weight"])
    assert all(p.requires_grad for p in result.model.net.parameters())
    assert all(p.requires_grad for p in shipped_model.net.parameters())


@pytest.mark.parametrize(
    "frozen, message",
    [(("stem",), r"Cannot freeze 'stem'.*features\.0\.0"), (("features", "fc"), "nothing would be trained")],
)
def test_bad_frozen_layers_are_refused_before_any_work(shipped_model, tiny_shapes, fast_config, frozen, message):
    events = []
    cfg = fast_config.with_overrides(**{"repair.frozen": frozen})
    with pytest.raises(ConfigError, match=message):
        unlearn(shipped_model, tiny_shapes, [0], cfg, device="cpu", progress=events.append)
    assert events == []


def test_config_with_frozen_layers_survives_json():
    cfg = PRESETS["shapes10"].config
    again = UnsirConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg and again.impair.frozen == STEM


def test_anneal_keeps_the_learning_rates_then_lowers_them_to_the_last_step():
    from unsir_core.common.optim import anneal_schedule

    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([{"params": [p], "lr": 0.01}, {"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.04}])
    sched = anneal_schedule(opt, total=10, fraction=0.5)
    seen = []
    for _ in range(10):
        seen.append([g["lr"] for g in opt.param_groups])
        opt.step()
        sched.step()
    body = [lr for lr, _ in seen]
    assert body[:5] == [0.01] * 5  # constant first
    assert all(a > b for a, b in zip(body[4:], body[5:]))  # then falling every step
    assert 0 < body[-1] < 0.01 / 5  # the last step still learns, a little
    assert all(head == pytest.approx(4 * lr) for lr, head in seen)  # the groups keep their ratio


def test_no_anneal_is_the_paper_constant_rate():
    from unsir_core.common.optim import anneal_schedule

    opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))], lr=0.02)
    sched = anneal_schedule(opt, total=4, fraction=0.0)
    for _ in range(4):
        assert opt.param_groups[0]["lr"] == 0.02
        opt.step()
        sched.step()


@pytest.mark.parametrize("anneal", [-0.1, 1.5])
def test_anneal_outside_0_to_1_is_refused(anneal):
    with pytest.raises(ConfigError, match=r"repair\.anneal = .* out of range: give a value from 0 up to 1"):
        UnsirConfig(repair=PhaseConfig(lr=0.01, anneal=anneal))
