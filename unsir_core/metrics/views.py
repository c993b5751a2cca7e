"""The views a run record carries for its report: the shared PCA embedding and the layer-wise CKA.

Both are computed from the run's models once, when the run is made, so the report (built from the run JSON
alone, without torch) can draw them. The dashboard computes UMAP and other choices live from the models.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from unsir_core.data import ImageData
from unsir_core.metrics.cka import layer_cka
from unsir_core.metrics.embedding import EmbeddingSettings, embed
from unsir_core.models.classifier import Classifier

EMBEDDED = ("original", "repair", "retrain")  # the models an embedding shows side by side, when the run has them
UNLEARNED = "repair"  # the model CKA compares with each of the others


def cka_pairs(stages: Sequence[str], unlearned: str = UNLEARNED) -> dict[str, tuple[str, str]]:
    """The `unlearned` model against the original and the retrained model, keyed by the other model's stage."""
    if unlearned not in stages:
        return {}
    return {other: (unlearned, other) for other in ("original", "retrain") if other in stages}


def run_views(models: Mapping[str, Classifier], data: ImageData, forget: Sequence[int], seed: int) -> dict[str, Any]:
    """{"embedding": Embedding.to_dict(), "cka": {stage: [LayerCka dicts]}} for the run's models (by stage)."""
    shown = {s: models[s] for s in EMBEDDED if s in models}
    embedding = embed(shown, data, forget, EmbeddingSettings(seed=seed))
    cka = layer_cka(shown, cka_pairs(list(shown)), data, seed)
    return {"embedding": embedding.to_dict(), "cka": {s: [d.to_dict() for d in layers] for s, layers in cka.items()}}
