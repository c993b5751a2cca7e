"""Class activation maps with pytorch-grad-cam, safely: the caller's model is never touched.

pytorch-grad-cam switches the model to eval mode, leaves gradients on its parameters, fails under
`torch.no_grad()` and on frozen models, and returns all-zero maps when there are fewer targets than
images. So `heatmaps` works on a deep copy with gradients enabled, uses the context manager (which
removes the hooks), and demands one target class per image. The target layer and the reshape
transform for token models come from the model registry.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from pytorch_grad_cam import EigenCAM, GradCAM, GradCAMPlusPlus
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from unsir_core.common.device import pick_device
from unsir_core.common.errors import ConfigError
from unsir_core.models import get_spec
from unsir_core.models.classifier import Classifier

METHODS = {"gradcam": GradCAM, "gradcam++": GradCAMPlusPlus, "eigencam": EigenCAM}


def _check_request(model: Classifier, x_uint8: torch.Tensor, targets: Sequence[int], method: str) -> None:
    if method not in METHODS:
        raise ConfigError(f"Unknown CAM method {method!r}: choose one of {', '.join(METHODS)}.")
    if x_uint8.dtype != torch.uint8 or x_uint8.ndim != 4:
        raise ConfigError(f"Images must be uint8 [B, C, H, W], got {x_uint8.dtype} {tuple(x_uint8.shape)}.")
    if len(targets) != len(x_uint8):
        raise ConfigError(
            f"Give one target class per image: {len(x_uint8)} images but {len(targets)} targets "
            "(pytorch-grad-cam would silently return empty maps)."
        )
    bad = [t for t in targets if not 0 <= int(t) < model.info.num_classes]
    if bad:
        raise ConfigError(
            f"Target classes {bad} are out of range: the model has classes 0..{model.info.num_classes - 1}."
        )


def heatmaps(
    model: Classifier,
    x_uint8: torch.Tensor,
    targets: Sequence[int],
    method: str = "gradcam",
    device: str | torch.device | None = None,
) -> np.ndarray:
    """Class activation maps [B, S, S] in [0, 1] for uint8 images [B, C, H, W], one target class per image.

    S is the model's input size. Computed on a deep copy of the network (gradients enabled, so frozen
    models work); `model` keeps its mode, gets no gradients and no hooks. `device=None` uses the
    model's device.
    """
    _check_request(model, x_uint8, targets, method)
    device = model.device if device is None else pick_device(device)
    spec = get_spec(model.info.arch)
    net = copy.deepcopy(model.net).to(device).requires_grad_(True)
    inputs = model.prepare(x_uint8.to(device))  # [B, C, S, S]
    maps = None
    with (
        torch.enable_grad(),
        METHODS[method](
            model=net, target_layers=[spec.gradcam_layer(net)], reshape_transform=spec.reshape_transform
        ) as cam,
    ):
        maps = cam(input_tensor=inputs, targets=[ClassifierOutputTarget(int(t)) for t in targets])  # [B, S, S]
    if maps is None:  # the CAM context manager swallows IndexError (and prints it)
        raise RuntimeError(f"{method} failed inside pytorch-grad-cam; see the message printed above.")
    return maps


def overlay(x_uint8: torch.Tensor, heatmap: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """One uint8 image [C, H, W] (C = 1 or 3) with a heatmap [S, S] in JET colours on top -> uint8 [S, S, 3].

    The image is resized to the heatmap's size; `alpha` is the weight of the heatmap (0 = image only).
    Same blend as pytorch_grad_cam.utils.image.show_cam_on_image, which it calls.
    """
    if x_uint8.ndim != 3 or x_uint8.shape[0] not in (1, 3):
        raise ConfigError(f"overlay takes one grey or RGB image [C, H, W], got shape {tuple(x_uint8.shape)}.")
    if heatmap.ndim != 2:
        raise ConfigError(f"overlay takes one heatmap [S, S], got shape {heatmap.shape}.")
    if not 0 <= alpha <= 1:
        raise ConfigError(f"The overlay alpha must be in [0, 1], got {alpha}.")
    size = heatmap.shape
    img = F.interpolate(x_uint8.detach().cpu().float()[None] / 255, size=size, mode="bilinear", align_corners=False)[
        0
    ].clamp(0, 1)  # [C, S, S]
    rgb = img.expand(3, *size).permute(1, 2, 0).numpy()  # [S, S, 3], grey repeated
    return show_cam_on_image(rgb, np.clip(heatmap, 0, 1), use_rgb=True, image_weight=1 - alpha)
