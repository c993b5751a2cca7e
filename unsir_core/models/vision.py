"""torchvision architectures adapted to small images: MobileNetV2 and Vision Transformers.

torchvision is imported inside the builders: importing it costs about 2 s, which the dashboard's
first page (Small CNN) does not need to pay.
"""

from __future__ import annotations

import torch
from torch import nn


def _first_conv_to(model: nn.Module, conv_path: str, in_channels: int) -> None:
    """Replace the first conv so the model takes `in_channels` (e.g. 1 for MNIST)."""
    parent_path, _, attr = conv_path.rpartition(".")
    parent = model.get_submodule(parent_path) if parent_path else model
    old = getattr(parent, attr)
    if old.in_channels != in_channels:
        setattr(
            parent,
            attr,
            nn.Conv2d(
                in_channels, old.out_channels, old.kernel_size, old.stride, old.padding, bias=old.bias is not None
            ),
        )


def mobilenet_v2_small(num_classes: int, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """MobileNetV2 for 32x32: stem and first strided block at stride 1, so the last map is 4x4, not 1x1."""
    from torchvision.models import mobilenet_v2

    model = mobilenet_v2(num_classes=num_classes, width_mult=width)
    model.features[0][0].stride = (1, 1)
    model.features[2].conv[1][0].stride = (1, 1)
    _first_conv_to(model, "features.0.0", in_channels)
    return model


def vit_small(num_classes: int, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """A 6-layer ViT for 32x32 input with 4x4 patches (8x8 tokens); hidden 192 at width 1."""
    from torchvision.models.vision_transformer import VisionTransformer

    heads = 3
    hidden = max(heads * 16, int(192 * width) // heads * heads)
    model = VisionTransformer(
        image_size=32,
        patch_size=4,
        num_layers=6,
        num_heads=heads,
        hidden_dim=hidden,
        mlp_dim=2 * hidden,
        num_classes=num_classes,
    )
    _first_conv_to(model, "conv_proj", in_channels)
    return model


def vit_b16(num_classes: int, in_channels: int = 3, width: float = 1.0) -> nn.Module:
    """torchvision ViT-B/16 at 224x224 (for ImageNet-pretrained fine-tuning); width is ignored."""
    from torchvision.models.vision_transformer import vit_b_16

    model = vit_b_16(num_classes=num_classes)
    _first_conv_to(model, "conv_proj", in_channels)
    return model


def vit_reshape_transform(tokens: torch.Tensor) -> torch.Tensor:
    """GradCAM reshape: ViT tokens [B, 1 + h*w, D] -> feature map [B, D, h, w] (class token dropped)."""
    patches = tokens[:, 1:, :]
    side = int(round(patches.shape[1] ** 0.5))
    return patches.reshape(tokens.shape[0], side, side, -1).permute(0, 3, 1, 2)
