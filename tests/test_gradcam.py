"""GradCAM / GradCAM++ / EigenCAM over the model registry: map shape and content, the target layer's
feature map size, and no side effects on the caller's model (mode, gradients, hooks, weights)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from unsir_core.common.errors import ConfigError
from unsir_core.explain import METHODS, heatmaps, overlay
from unsir_core.metrics.evaluate import predict_logits
from unsir_core.models import MODELS, get_spec
from unsir_core.models.classifier import Classifier, ModelInfo

SMALL_ARCHS = [name for name in MODELS if name != "vit_b_16"]  # ViT-B/16 gets one 1-image check below
HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def make_model(arch: str, in_channels: int = 3, input_size: int = 32, classes: int = 4) -> Classifier:
    """A tiny untrained model. torchvision zero-initialises the ViT head, which would give zero gradients
    and all-zero GradCAM maps, so that head gets random weights here."""
    torch.manual_seed(0)
    info = ModelInfo(
        arch=arch,
        dataset="t",
        class_names=tuple("abcdefgh"[:classes]),
        in_channels=in_channels,
        input_size=input_size,
        width=0.25,
        mean=(0.5,) * in_channels,
        std=(0.25,) * in_channels,
    )
    model = Classifier.create(info)
    if arch.startswith("vit"):
        nn.init.normal_(model.net.heads.head.weight, std=0.5)
    return model


def images(n: int, channels: int = 3, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)


def hook_count(net: nn.Module) -> int:
    return sum(len(getattr(m, d)) for m in net.modules() for d in HOOK_DICTS)


def check_untouched(model: Classifier, state: dict, training: bool) -> None:
    assert model.net.training is training
    assert all(p.grad is None for p in model.net.parameters())
    assert all(not p.requires_grad for p in model.net.parameters())  # frozen by the test, still frozen
    assert hook_count(model.net) == 0
    after = model.net.state_dict()
    assert all(torch.equal(state[k], after[k]) for k in state)


@pytest.mark.parametrize("method", list(METHODS))
@pytest.mark.parametrize("arch", SMALL_ARCHS)
def test_heatmaps_shape_content_and_no_side_effects(arch: str, method: str):
    model = make_model(arch)
    x = images(2)
    targets = predict_logits(model, x).argmax(1).tolist()
    model.net.requires_grad_(False)  # a frozen model, left in train mode: both must survive
    model.net.train()
    state = copy.deepcopy(model.net.state_dict())
    with torch.no_grad():  # the caller's context must not matter
        maps = heatmaps(model, x, targets, method)
    assert maps.shape == (2, 32, 32)
    assert np.isfinite(maps).all()
    assert maps.min() >= 0 and maps.max() <= 1
    assert maps.max() > 0, "every map is zero"
    check_untouched(model, state, training=True)


@pytest.mark.parametrize("arch", SMALL_ARCHS)
def test_target_layer_map_is_larger_than_1x1(arch: str):
    model = make_model(arch)
    spec = get_spec(arch)
    shapes = []
    handle = spec.gradcam_layer(model.net).register_forward_hook(
        lambda module, inputs, out: shapes.append(tuple((spec.reshape_transform or (lambda t: t))(out).shape))
    )
    predict_logits(model, images(1))
    handle.remove()
    assert len(shapes[0]) == 4 and min(shapes[0][2:]) > 1, f"{arch} target layer map {shapes[0]}"


def test_vit_b_16_single_image():
    """224x224 ViT-B/16 is slow on a CPU (about 5 s here), so one image and one method only."""
    model = make_model("vit_b_16", input_size=224, classes=2)
    model.net.requires_grad_(False).eval()
    state = copy.deepcopy(model.net.state_dict())
    maps = heatmaps(model, images(1), [1], "gradcam")
    assert maps.shape == (1, 224, 224) and np.isfinite(maps).all() and maps.max() > 0
    check_untouched(model, state, training=False)


def test_grey_images_and_eval_mode_kept():
    model = make_model("smallcnn", in_channels=1)
    model.net.requires_grad_(False).eval()
    state = copy.deepcopy(model.net.state_dict())
    maps = heatmaps(model, images(3, channels=1, size=28), [0, 1, 2], "gradcam++")
    assert maps.shape == (3, 32, 32)
    check_untouched(model, state, training=False)


def test_one_target_per_image_is_required():
    model = make_model("smallcnn")
    with pytest.raises(ConfigError, match="one target class per image"):
        heatmaps(model, images(3), [0], "gradcam")
    with pytest.raises(ConfigError, match="one target class per image"):
        heatmaps(model, images(1), [0, 1], "eigencam")


def test_bad_requests_say_what_to_do():
    model = make_model("smallcnn")
    with pytest.raises(ConfigError, match="gradcam, gradcam\\+\\+, eigencam"):
        heatmaps(model, images(1), [0], "scorecam")
    with pytest.raises(ConfigError, match="out of range"):
        heatmaps(model, images(1), [9], "gradcam")
    with pytest.raises(ConfigError, match="uint8"):
        heatmaps(model, images(1).float(), [0], "gradcam")
    assert hook_count(model.net) == 0


def test_repeated_calls_leave_no_hooks():
    model = make_model("resnet18")
    for method in METHODS:
        heatmaps(model, images(1), [0], method)
    assert hook_count(model.net) == 0


def test_overlay_blends_like_show_cam_on_image():
    grey = torch.arange(64, dtype=torch.uint8).view(1, 8, 8) * 4 + 3  # values 3 .. 255
    only_image = overlay(grey, np.zeros((8, 8), np.float32), alpha=0.0)
    assert only_image.shape == (8, 8, 3) and only_image.dtype == np.uint8
    assert np.abs(only_image.astype(int) - grey[0].numpy()[..., None].astype(int)).max() <= 1
    only_heat = overlay(grey, np.zeros((8, 8), np.float32), alpha=1.0)  # JET(0) is dark blue, rescaled to max
    assert (only_heat == np.array([0, 0, 255], np.uint8)).all()


def test_overlay_resizes_the_image_to_the_map():
    out = overlay(images(1, size=16)[0], np.random.default_rng(0).random((32, 32), np.float32))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    with pytest.raises(ConfigError, match="alpha"):
        overlay(images(1)[0], np.zeros((32, 32)), alpha=2)
    with pytest.raises(ConfigError, match=r"\[C, H, W\]"):
        overlay(images(2), np.zeros((32, 32)))
