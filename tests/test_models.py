"""The model registry: every entry builds, runs forward and backward on tiny input, and has a
GradCAM layer with a feature map larger than 1x1."""

import pytest
import torch

from unsir_core.common.errors import ConfigError
from unsir_core.models import MODELS, get_spec
from unsir_core.models.fold import fold_batchnorm

FAST = [name for name in MODELS if name != "vit_b_16"]


@pytest.mark.parametrize("name", FAST)
@pytest.mark.parametrize("channels", [3, 1])
def test_forward_backward(name, channels):
    spec = MODELS[name]
    torch.manual_seed(0)
    net = spec.create(num_classes=5, in_channels=channels, width=0.25)
    x = torch.randn(2, channels, spec.input_size, spec.input_size)
    out = net(x)
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()
    out.logsumexp(1).sum().backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


@pytest.mark.parametrize("name", list(MODELS))
def test_gradcam_layer_is_spatial(name):
    spec = MODELS[name]
    net = spec.create(num_classes=3, width=0.25).eval()
    seen = {}
    handle = spec.gradcam_layer(net).register_forward_hook(lambda m, i, o: seen.setdefault("out", o))
    with torch.no_grad():
        net(torch.randn(1, 3, spec.input_size, spec.input_size))
    handle.remove()
    fmap = spec.reshape_transform(seen["out"]) if spec.reshape_transform else seen["out"]
    assert fmap.ndim == 4 and fmap.shape[-1] > 1 and fmap.shape[-2] > 1


@pytest.mark.parametrize("name", list(MODELS))
def test_head_prefix_names_parameters(name):
    spec = MODELS[name]
    net = spec.create(num_classes=3, width=0.25)
    assert any(n.startswith(spec.head + ".") for n, _ in net.named_parameters())


def test_unknown_architecture_is_a_clear_error():
    with pytest.raises(ConfigError, match="Choose one of"):
        get_spec("resnet1000")


def test_one_class_is_refused():
    with pytest.raises(ConfigError, match="at least 2 classes"):
        MODELS["smallcnn"].create(num_classes=1)


@pytest.mark.parametrize("name", FAST)
def test_folding_batchnorm_keeps_the_outputs_and_the_model(name):
    spec = MODELS[name]
    torch.manual_seed(0)
    net = spec.create(num_classes=5, width=0.25)
    x = torch.randn(8, 3, spec.input_size, spec.input_size)
    net(x)  # one train-mode pass: running statistics that are not the identity
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    folded = fold_batchnorm(net)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), net(x), rtol=1e-4, atol=1e-4)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    if name in ("smallcnn", "allcnn"):  # conv_bn blocks only: every BatchNorm is folded away
        assert folded is not net and not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())


def test_training_speed_times_the_asked_steps_on_fresh_weights(tiny_shapes):
    from unsir_core.common.config import TrainConfig
    from unsir_core.models.classifier import ModelInfo
    from unsir_core.training.train import training_speed

    before = tiny_shapes.train_x.clone()
    info = ModelInfo.for_data("smallcnn", tiny_shapes, 0.25)
    ms, per_s = training_speed(info, tiny_shapes, TrainConfig(batch_size=32), torch.device("cpu"), batches=3)
    assert ms > 0 and per_s > 0
    assert per_s == pytest.approx(3 * 32 / (ms / 1000))  # 3 steps of 32 images in `ms`
    assert torch.equal(tiny_shapes.train_x, before)


def test_gold_standard_trains_as_the_original_with_the_runs_seed(tiny_shapes):
    from dataclasses import replace

    from unsir_core.common.config import TrainConfig
    from unsir_core.models.classifier import ModelInfo
    from unsir_core.training.train import gold_standard_config

    recorded = TrainConfig(epochs=25, lr=0.01, optimizer="sgd", seed=0).to_dict()
    info = replace(
        ModelInfo.for_data("smallcnn", tiny_shapes, 0.25),
        details={"train_config": {**recorded, "from_a_later_version": 1}},
    )
    assert gold_standard_config(info, seed=2) == TrainConfig(epochs=25, lr=0.01, optimizer="sgd", seed=2)
    assert gold_standard_config(info, seed=2, epochs=4).epochs == 4
    assert gold_standard_config(replace(info, details={}), seed=1) == TrainConfig(seed=1)  # nothing recorded


def test_a_conv_net_trained_at_a_data_sets_native_side_is_a_valid_model(tiny_shapes):
    from unsir_core.models.classifier import Classifier, ModelInfo
    from unsir_core.training.train import gold_standard_config

    info = ModelInfo.for_data("smallcnn", tiny_shapes, 0.25, input_size=28)
    assert info.input_size == 28
    model = Classifier.create(info)
    assert model.prepare(tiny_shapes.test_x[:2]).shape[-2:] == (28, 28)
    assert model.net(model.prepare(tiny_shapes.test_x[:2])).shape == (2, tiny_shapes.num_classes)
    assert ModelInfo.from_dict(info.to_dict()) == info  # a checkpoint's header with it reads back
    assert gold_standard_config(info, seed=3).input_size == 28  # its gold standard sees the same side


def test_an_input_size_an_architecture_cannot_take_is_a_clear_error(tiny_shapes):
    from unsir_core.common.errors import CheckpointError
    from unsir_core.models.classifier import ModelInfo

    with pytest.raises(ConfigError, match="Small CNN takes images of 16 to 128 px, not 200 px"):
        ModelInfo.for_data("smallcnn", tiny_shapes, input_size=200)
    with pytest.raises(ConfigError, match=r"takes images of 32 px, not 28 px: leave the size out"):
        ModelInfo.for_data("vit_small", tiny_shapes, input_size=28)
    forged = {**ModelInfo.for_data("vit_small", tiny_shapes).to_dict(), "input_size": 28}
    with pytest.raises(CheckpointError, match="input_size must be 32 px"):
        ModelInfo.from_dict(forged)
