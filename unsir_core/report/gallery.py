"""A before/after gallery for the report: a few forget- and retain-class test images, each model's verdict.

The images travel in the run JSON as small PNG data URIs (about 1 KB each at 32x32), so the report
needs neither the data set nor torch. The choice is fixed (the first test images of each class), so
two runs on the same data show the same pictures.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image

from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import predict_logits
from unsir_core.models.classifier import Classifier
from unsir_core.report.html import PNG_URI

PER_GROUP = 6  # images of forget classes, and of retain classes


def png_data_uri(x: torch.Tensor) -> str:
    """One uint8 image [C, H, W] (grey or RGB) as a PNG data URI."""
    arr = x.detach().cpu().expand(3, -1, -1).permute(1, 2, 0).contiguous().numpy().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=True)
    return PNG_URI + base64.b64encode(buf.getvalue()).decode()


def pick(data: ImageData, classes: Sequence[int], count: int) -> list[int]:
    """Up to `count` test indices, taken round-robin over `classes` (first images of each class)."""
    per_class = {c: (data.test_y == c).nonzero().flatten().tolist() for c in classes}
    chosen: list[int] = []
    for rank in range(count):
        for c in classes:
            if len(chosen) < count and rank < len(per_class[c]):
                chosen.append(per_class[c][rank])
    return chosen


def gallery(
    models: Mapping[str, Classifier],
    data: ImageData,
    request: Sequence[int],
    gone: Sequence[int],
    per_group: int = PER_GROUP,
) -> dict[str, Any]:
    """{"images": [{index, label, group, png}], "predictions": {stage: [[class, confidence %], ...]}}.

    Forget images come from this request's classes first, then the earlier forgotten ones; retain
    images from one retain class each.
    """
    earlier = [c for c in gone if c not in request]
    retain = [c for c in range(data.num_classes) if c not in gone]
    idx = pick(data, [*request, *earlier], per_group) + pick(data, retain, per_group)
    x, y = data.test_x[torch.tensor(idx, device=data.test_x.device)], data.test_y[idx].tolist()
    images = [
        {
            "index": i,
            "label": data.class_names[c],
            "group": "forget" if c in gone else "retain",
            "png": png_data_uri(img),
        }
        for i, c, img in zip(idx, y, x)
    ]
    predictions = {}
    for stage, model in models.items():
        probs = predict_logits(model, x.to(model.device)).softmax(1).cpu()
        conf, pred = probs.max(1)
        predictions[stage] = [[data.class_names[p], round(q * 100, 1)] for p, q in zip(pred.tolist(), conf.tolist())]
    return {"images": images, "predictions": predictions}
