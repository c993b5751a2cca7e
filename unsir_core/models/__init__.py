"""Model registry: the core, the pages and the tests all read `MODELS`.

Each entry knows how to build the network, its input size, the GradCAM target layer (a feature map
larger than 1x1 at that input size), the reshape transform for token models, the classifier head
(for per-layer learning rates) and the torchvision ImageNet weights it can start from.

The registry itself is torch-free: the networks' modules are imported when one is built, so pages
that only show names and titles (the first page, the sidebar) never wait for torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unsir_core.common.errors import CheckpointError, ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def lazy(module: str, name: str, **kwargs: Any) -> Callable[..., Any]:
    """`unsir_core.models.<module>.<name>(*args, **kwargs)`, importing the module (and torch) on the first call."""

    def call(*args: Any) -> Any:
        return getattr(importlib.import_module(f"{__name__}.{module}"), name)(*args, **kwargs)

    call.__name__ = name
    return call


@dataclass(frozen=True)
class ModelSpec:
    name: str  # registry key (CLI, URLs, checkpoints)
    title: str  # shown in the UI
    description: str  # one sentence for the UI
    build: Callable[[int, int, float], nn.Module]  # (num_classes, in_channels, width) -> fresh model
    target_layer: str  # dotted path of the GradCAM layer
    head: str  # dotted prefix of the classifier head's parameters (own learning rate)
    input_size: int = 32  # images are resized to this before the model, unless a model is trained at another side
    input_sizes: tuple[int, int] | None = None  # smallest and largest side it can be trained at; None: input_size only
    default_width: float = 1.0  # channel multiplier used when none is given
    pretrained_weights: str | None = None  # torchvision weights name for ImageNet initialisation
    reshape_transform: Callable[[torch.Tensor], torch.Tensor] | None = None  # GradCAM, for token models
    cpu_friendly: bool = False  # trains in seconds to minutes on a 2-core CPU
    family: str = "cnn"  # "cnn" (BatchNorm conv nets) or "transformer": picks the auto recipe's learning rates
    early: tuple[str, ...] = ()  # every layer before the last stage: the auto recipe keeps them fixed (see recipe.py)

    def create(self, num_classes: int, in_channels: int = 3, width: float | None = None) -> nn.Module:
        if num_classes < 2:
            raise ConfigError(f"{self.title} needs at least 2 classes, got {num_classes}.")
        return self.build(num_classes, in_channels, self.default_width if width is None else width)

    def accepts(self, size: int) -> bool:
        """Whether a model of this architecture can take size x size images (global pooling makes conv nets
        size-agnostic above the side their strides need)."""
        lo, hi = self.input_sizes or (self.input_size, self.input_size)
        return lo <= size <= hi

    def sizes_text(self) -> str:
        lo, hi = self.input_sizes or (self.input_size, self.input_size)
        return f"{lo} px" if lo == hi else f"{lo} to {hi} px"

    def check_input_size(self, size: int | None) -> None:
        """ConfigError unless a new model of this architecture can be made for size x size images (None: its own)."""
        if size is not None and not self.accepts(size):
            choose = "choose a size in that range, or " if self.input_sizes else ""
            raise ConfigError(
                f"{self.title} takes images of {self.sizes_text()}, not {size} px: "
                f"{choose}leave the size out for the architecture's."
            )

    def gradcam_layer(self, model: nn.Module) -> nn.Module:
        return model.get_submodule(self.target_layer)


def _prefixes(module: str, n: int) -> tuple[str, ...]:
    """ "module.0" ... "module.{n-1}": the first n blocks of a Sequential (each must hold parameters)."""
    return tuple(f"{module}.{i}" for i in range(n))


def _vit_early(layers: int) -> tuple[str, ...]:
    """Patch embedding, class token, position embedding and all encoder layers but the last two."""
    return (
        "class_token",
        "conv_proj",
        "encoder.pos_embedding",
        *(f"encoder.layers.encoder_layer_{i}" for i in range(layers - 2)),
    )


RESNET_EARLY = ("conv1", "bn1", "layer1", "layer2", "layer3")  # everything before layer4
VIT_TOKENS = lazy("vision", "vit_reshape_transform")  # GradCAM's reshape of a ViT's tokens to a feature map

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec(
            "smallcnn",
            "Small CNN",
            "Five conv layers, ~0.1M parameters; the fast CPU default.",
            lazy("cnn", "SmallCNN"),
            "features.4",
            "fc",
            default_width=0.5,
            input_sizes=(16, 128),  # two stride-2 convolutions, then global pooling
            cpu_friendly=True,
            early=_prefixes("features", 4),
        ),
        ModelSpec(
            "allcnn",
            "All-CNN",
            "All-CNN-C, the paper's CIFAR-10 model (width 0.25 for CPU demos).",
            lazy("cnn", "AllCNN"),
            "features.9",
            "classifier",
            default_width=1.0,
            input_sizes=(16, 128),  # two stride-2 convolutions, then global pooling
            cpu_friendly=True,
            early=("features.0", "features.1", "features.2", "features.4", "features.5", "features.6"),
        ),
        ModelSpec(
            "resnet18",
            "ResNet18 (CIFAR stem)",
            "ResNet18 with a 3x3 stride-1 stem, the standard CIFAR model.",
            lazy("resnet", "ResNet18"),
            "layer4",
            "fc",
            pretrained_weights="ResNet18_Weights.IMAGENET1K_V1",
            early=RESNET_EARLY,
        ),
        ModelSpec(
            "resnet18_tv",
            "ResNet18 (torchvision stem)",
            "torchvision's ResNet18 with the ImageNet stem, as in the authors' notebook (layer4 is 1x1 at 32x32).",
            lazy("resnet", "ResNet18", stem="imagenet"),
            "layer3",
            "fc",
            pretrained_weights="ResNet18_Weights.IMAGENET1K_V1",
            early=RESNET_EARLY,
        ),
        ModelSpec(
            "mobilenet_v2",
            "MobileNetV2",
            "MobileNetV2 with a stride-1 stem for 32x32 images.",
            lazy("vision", "mobilenet_v2_small"),
            "features.18",
            "classifier",
            pretrained_weights="MobileNet_V2_Weights.IMAGENET1K_V1",
            early=_prefixes("features", 14),
        ),
        ModelSpec(
            "vit_small",
            "ViT (small, 32x32)",
            "A 6-layer Vision Transformer with 4x4 patches.",
            lazy("vision", "vit_small"),
            "encoder.layers.encoder_layer_5.ln_1",
            "heads",
            reshape_transform=VIT_TOKENS,
            family="transformer",
            early=_vit_early(6),
        ),
        ModelSpec(
            "vit_b_16",
            "ViT-B/16 (224x224)",
            "torchvision ViT-B/16 at 224x224 for ImageNet-pretrained fine-tuning.",
            lazy("vision", "vit_b16"),
            "encoder.layers.encoder_layer_11.ln_1",
            "heads",
            input_size=224,
            pretrained_weights="ViT_B_16_Weights.IMAGENET1K_V1",
            reshape_transform=VIT_TOKENS,
            family="transformer",
            early=_vit_early(12),
        ),
    )
}

DEFAULT_MODEL = "smallcnn"


def get_spec(name: str) -> ModelSpec:
    spec = MODELS.get(name)
    if spec is None:
        raise ConfigError(f"Unknown architecture {name!r}. Choose one of: {', '.join(MODELS)}.")
    return spec


def load_imagenet_weights(model: nn.Module, spec: ModelSpec) -> list[str]:
    """Copy torchvision's ImageNet weights into `model` where shapes fit; returns the keys left as initialised.

    The weights are downloaded once into $TORCH_HOME/hub/checkpoints (torchvision's cache) and read
    from there afterwards. Offline without that file, raises CheckpointError saying what to do.
    """
    if spec.pretrained_weights is None:
        raise ConfigError(f"{spec.title} has no ImageNet weights; train it from scratch instead.")
    import torch
    from torchvision.models import get_weight

    weights = get_weight(spec.pretrained_weights)
    try:
        state = weights.get_state_dict(progress=False)
    except (OSError, RuntimeError) as err:  # URLError is an OSError
        filename = weights.url.rsplit("/", 1)[-1]
        raise CheckpointError(
            f"Could not get the ImageNet weights for {spec.title} ({err}). Connect to the internet once, or "
            f"copy {filename} into {torch.hub.get_dir()}/checkpoints/ and try again."
        ) from err
    own = model.state_dict()
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(fitting, strict=False)
    return sorted(set(own) - set(fitting))


__all__ = ["DEFAULT_MODEL", "IMAGENET_MEAN", "IMAGENET_STD", "MODELS", "ModelSpec", "get_spec", "load_imagenet_weights"]
