"""Weight distance, relearn time, membership inference, activation distance, JS divergence and ZRF:
hand-computed values on tiny tensors, sane numbers and determinism on tiny models."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import ConfigError
from unsir_core.data.bundle import ImageData
from unsir_core.data.shapes import generate_shapes
from unsir_core.metrics.privacy import (
    MIA_VARIANTS,
    activation_distance,
    js_divergence,
    membership_inference,
    mia_feature,
    random_model,
    zrf_score,
)
from unsir_core.metrics.relearn import relearn_time
from unsir_core.metrics.weights import layer_distances, total_distance
from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.training.train import fit

NEG_INF = float("-inf")


@pytest.fixture(scope="module")
def shapes():
    return generate_shapes(300, 150, seed=0)  # 10 classes, 30 train / 15 test images each


def tiny(arch: str = "smallcnn", width: float = 0.25, classes: int = 10, seed: int = 0) -> Classifier:
    torch.manual_seed(seed)
    return Classifier.create(ModelInfo(arch=arch, dataset="t", class_names=tuple("abcdefghij"[:classes]), width=width))


def snapshot(model: Classifier) -> tuple[dict, bool]:
    return copy.deepcopy(model.net.state_dict()), model.net.training


def assert_unchanged(model: Classifier, snap: tuple[dict, bool]) -> None:
    state, training = snap
    after = model.net.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert model.net.training is training
    assert all(p.grad is None for p in model.net.parameters())


# ---------------------------------------------------------------- weight distance


def linear_bn() -> nn.Sequential:
    """Linear(2, 2) with weight diag(3, 4) and zero bias (norm 5), then BatchNorm1d(2) (norm sqrt 2)."""
    net = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[3.0, 0.0], [0.0, 4.0]]))
        net[0].bias.zero_()
    return net


def test_identical_models_are_at_distance_zero():
    model = tiny()
    distances = layer_distances(model, model.copy())
    assert distances[0].name == "features.0.0"
    assert all(d.l2 == 0 and d.normalized == 0 for d in distances)
    assert sum(d.n_params for d in distances) == sum(p.numel() for p in model.net.parameters())
    assert total_distance(model, model.copy()) == 0


def test_known_perturbation_gives_the_hand_computed_distance():
    ref = linear_bn()
    moved = copy.deepcopy(ref)
    with torch.no_grad():
        moved[0].weight[0, 0] += 3.0  # difference (3, 4) over the linear layer: l2 = 5
        moved[0].bias[1] += 4.0
    d_linear, d_bn = layer_distances(moved, ref)
    assert (d_linear.name, d_linear.n_params, d_bn.name, d_bn.n_params) == ("0", 6, "1", 4)
    assert d_linear.l2 == pytest.approx(5.0) and d_linear.normalized == pytest.approx(1.0)  # 5 / ||diag(3, 4)||
    assert d_bn.l2 == 0 and d_bn.normalized == 0
    assert total_distance(moved, ref) == pytest.approx(5.0)
    assert layer_distances(ref, moved)[0].normalized == pytest.approx(5 / math.sqrt(6**2 + 4**2 + 4**2))


def test_all_zero_reference_layer_gives_nan_normalized():
    ref = nn.Linear(1, 1)
    nn.init.zeros_(ref.weight)
    nn.init.zeros_(ref.bias)
    moved = copy.deepcopy(ref)
    nn.init.ones_(moved.weight)
    (d,) = layer_distances(moved, ref)
    assert d.name == "weight,bias"  # the root module's own parameters name themselves
    assert d.l2 == 1 and math.isnan(d.normalized)


def test_root_parameters_of_a_vit_form_their_own_layer():
    model = tiny("vit_small")
    names = [d.name for d in layer_distances(model, model.copy())]
    assert names[0] == "class_token" and "encoder" in names  # encoder owns pos_embedding


@pytest.mark.parametrize("other", [lambda: tiny(width=0.5), lambda: tiny("allcnn"), lambda: tiny(classes=3)])
def test_different_architectures_are_refused(other):
    with pytest.raises(ConfigError, match="same architecture"):
        layer_distances(tiny(), other())


# ---------------------------------------------------------------- activation distance, JS divergence, ZRF

# Row 0: P = Q = (1, 0). Row 1: P = (1, 0), Q = (1/2, 1/2). Row 2: P = (1, 0), Q = (0, 1).
LOGITS_A = torch.tensor([[0.0, NEG_INF], [0.0, NEG_INF], [0.0, NEG_INF]])
LOGITS_B = torch.tensor([[0.0, NEG_INF], [0.0, 0.0], [NEG_INF, 0.0]])


def test_activation_distance_by_hand():
    # ||P - Q||_2 per row: 0, sqrt(1/4 + 1/4), sqrt(2)
    assert activation_distance(LOGITS_A, LOGITS_B) == pytest.approx((0 + math.sqrt(0.5) + math.sqrt(2)) / 3)
    assert activation_distance(LOGITS_A, LOGITS_A) == 0


def test_js_divergence_by_hand():
    # Row 1: M = (3/4, 1/4); KL(P||M) = ln(4/3); KL(Q||M) = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3); JS = 3/4 ln(4/3).
    # Row 2: disjoint supports, JS = ln 2 (the upper bound).
    expected = (0 + 0.75 * math.log(4 / 3) + math.log(2)) / 3
    assert js_divergence(LOGITS_A, LOGITS_B) == pytest.approx(expected)
    assert js_divergence(LOGITS_B, LOGITS_A) == pytest.approx(expected)  # symmetric
    assert js_divergence(LOGITS_A[2:], LOGITS_B[2:]) == pytest.approx(math.log(2))
    assert js_divergence(torch.tensor([[1.0, 2.0, 3.0]]), torch.tensor([[11.0, 12.0, 13.0]])) == pytest.approx(0)


def test_logit_functions_refuse_mismatched_shapes():
    for fn in (activation_distance, js_divergence):
        with pytest.raises(ConfigError, match="same classes"):
            fn(torch.zeros(3, 2), torch.zeros(3, 4))


def test_zrf_is_one_for_the_random_model_itself_and_in_range_otherwise(shapes):
    model = tiny()
    rng_before = torch.random.get_rng_state()
    assert zrf_score(random_model(model, seed=7), shapes, [0, 1], seed=7) == pytest.approx(1.0)
    assert torch.equal(torch.random.get_rng_state(), rng_before)  # the caller's random stream is untouched
    snap = snapshot(model)
    score = zrf_score(model, shapes, [0, 1], seed=1)
    assert 1 - math.log(2) <= score < 1
    assert score == zrf_score(model, shapes, [0, 1], seed=1)
    assert_unchanged(model, snap)


def test_zrf_needs_forget_test_images(shapes):
    with pytest.raises(ConfigError, match="forget-class test images"):
        zrf_score(tiny(), shapes, [])


# ---------------------------------------------------------------- membership inference


def test_mia_features_by_hand():
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3), NEG_INF, NEG_INF]])
    y = torch.tensor([2, 1])
    # entropy: uniform over 4 -> ln 4; (1/4, 3/4) -> -(1/4 ln 1/4 + 3/4 ln 3/4)
    entropy = mia_feature(logits, y, "entropy")[:, 0]
    assert entropy == pytest.approx([math.log(4), -(0.25 * math.log(0.25) + 0.75 * math.log(0.75))])
    assert mia_feature(logits, y, "confidence")[:, 0] == pytest.approx([0.25, 0.75])


@pytest.mark.parametrize("variant", list(MIA_VARIANTS))
def test_mia_returns_sane_deterministic_numbers(shapes, variant: str):
    model = tiny()
    snap = snapshot(model)
    result = membership_inference(model, shapes, [3], variant=variant, n=40, seed=0)
    assert result.variant == variant and variant in result.description.lower()
    assert 0 <= result.forget_member_rate <= 100 and 0 <= result.attack_acc <= 100
    assert result.n_train == 40  # 20 members + 20 non-members fitted, the other 20 + 20 scored
    assert result.n_forget == int((shapes.train_y == 3).sum())  # fewer than n=40: all of them
    assert result == membership_inference(model, shapes, [3], variant=variant, n=40, seed=0)
    assert_unchanged(model, snap)


def test_mia_tells_a_model_that_memorised_the_forget_class_from_one_that_never_saw_it():
    """Random-noise images with cycling labels: a model can only memorise them (100% train, ~33% test
    accuracy), so the confidence attack has a strong signal. Trained with class 2, its samples are
    members; trained without it (the retrained gold standard), they are not."""
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, (180, 3, 16, 16), dtype=torch.uint8, generator=g)
    labels = torch.arange(90) % 3
    data = ImageData("noise", tuple("abc"), noise[:90], labels, noise[90:], labels, (0.5,) * 3, (0.29,) * 3)
    cfg = TrainConfig(epochs=15, batch_size=15, lr=1e-2, augment=False, weight_decay=0)
    seen, unseen = (
        membership_inference(
            fit(data, "smallcnn", cfg, exclude=exclude, width=0.25, device="cpu"), data, [2], variant="confidence"
        )
        for exclude in ([], [2])
    )
    assert seen.attack_acc > 75 and unseen.attack_acc > 75
    assert seen.forget_member_rate > 90 and unseen.forget_member_rate < 10


def test_mia_members_can_be_restricted_and_must_be_retain_samples(shapes):
    model = tiny()
    retain_idx = (shapes.train_y != 3).nonzero().flatten()[:10]
    assert membership_inference(model, shapes, [3], retain_train_idx=retain_idx, n=40).n_train == 10
    forget_idx = (shapes.train_y == 3).nonzero().flatten()[:1]
    with pytest.raises(ConfigError, match="retain classes"):
        membership_inference(model, shapes, [3], retain_train_idx=torch.cat([retain_idx, forget_idx]))


def test_mia_rejects_an_unknown_variant(shapes):
    with pytest.raises(ConfigError, match="entropy, confidence"):
        membership_inference(tiny(), shapes, [3], variant="loss")


# ---------------------------------------------------------------- relearn time


@pytest.fixture(scope="module")
def colours() -> ImageData:
    """3 classes told apart by which channel is bright; 60 training and 30 test images each, 8x8."""
    g = torch.Generator().manual_seed(0)

    def split(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.arange(n) % 3
        x = torch.randint(0, 100, (n, 3, 8, 8), generator=g)
        x[torch.arange(n), y] += 155
        return x.to(torch.uint8), y

    return ImageData("colours", ("red", "green", "blue"), *split(180), *split(90), (0.5,) * 3, (0.3,) * 3)


@pytest.fixture(scope="module")
def without_blue(colours) -> Classifier:
    """Trained without class 2, so its forget accuracy starts at 0."""
    cfg = TrainConfig(epochs=3, batch_size=16, lr=1e-2, augment=False, weight_decay=0)
    model = fit(colours, "smallcnn", cfg, exclude=[2], width=0.25, device="cpu")
    model.net.zero_grad(set_to_none=True)  # fit leaves its last step's gradients; the checks want none
    return model


def relearn(model: Classifier, data: ImageData, target: float, **kw):
    kw = {"max_epochs": 10, "samples_per_epoch": 60, "batch_size": 20, "lr": 1e-2, "probe_per_class": 30, **kw}
    return relearn_time(model, data, [2], target, **kw)


def test_relearn_reaches_the_target_within_the_cap_deterministically(colours, without_blue):
    snap = snapshot(without_blue)
    rng_before = torch.random.get_rng_state()
    result = relearn(without_blue, colours, target=90.0)
    assert not result.capped and 1 <= result.epochs < 10
    assert result.history[0] == 0 and result.history[-1] >= 90 and max(result.history[:-1]) < 90
    assert result.history_epochs == list(range(result.epochs + 1))
    assert result == relearn(without_blue, colours, target=90.0)
    assert_unchanged(without_blue, snap)
    assert torch.equal(torch.random.get_rng_state(), rng_before)


def test_relearn_stops_at_the_cap(colours, without_blue):
    capped = relearn(without_blue, colours, target=101.0, max_epochs=2)
    assert capped.capped and capped.epochs is None and capped.history_epochs == [0, 1, 2]
    assert relearn(without_blue, colours, target=101.0, max_epochs=5, eval_every=2).history_epochs == [0, 2, 4, 5]


def test_relearn_at_or_above_the_target_takes_zero_epochs(colours, without_blue):
    result = relearn(without_blue, colours, target=0.0)
    assert result.epochs == 0 and result.history_epochs == [0]


def test_relearn_works_on_a_frozen_model(colours):
    model = tiny(classes=3)
    model.net.requires_grad_(False)
    assert relearn(model, colours, target=101.0, max_epochs=1).history_epochs == [0, 1]
    assert not any(p.requires_grad for p in model.net.parameters())


@pytest.mark.parametrize("kw, message", [({"max_epochs": 0}, "max_epochs"), ({"eval_every": 0}, "eval_every")])
def test_relearn_refuses_bad_settings(colours, kw, message):
    with pytest.raises(ConfigError, match=message):
        relearn(tiny(classes=3), colours, target=50.0, **kw)


def test_relearn_needs_forget_classes(colours):
    with pytest.raises(ConfigError, match="at least one forgotten class"):
        relearn_time(tiny(classes=3), colours, [], 50.0)
