"""The retrained model's own spread: how much retraining itself varies, from references trained with several seeds.

A retrained model is one draw: another training seed sends the forgotten class's images elsewhere and lands at
another A_Dr. With references for several seeds (the same data, architecture and settings, only the seed
changed), each summary gets a band, its minimum to its maximum over the seeds: A_Df and A_Dr, the prediction
distribution of the forget-class test images (% per class) and, from the shared embedding, where those images sit
(% inside each retain class's cluster, or apart). An unlearned model's value inside a band is "within what
retraining itself varies". An audit: it reads forget-class test images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from unsir_core.common.errors import ConfigError
from unsir_core.data import ImageData
from unsir_core.metrics.embedding import APART, EmbeddingSettings, whereabouts
from unsir_core.metrics.evaluate import evaluate
from unsir_core.metrics.views import model_pass, sample
from unsir_core.models.classifier import Classifier

SPREAD_SEEDS = (0, 1, 2)  # training seeds of the references a spread is made of (shipped for the default)


@dataclass(frozen=True)
class Band:
    low: float  # the smallest value over the seeds
    high: float  # the largest

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def words(self) -> str:
        return f"{self.low:.1f}%" if round(self.low, 1) == round(self.high, 1) else f"{self.low:.1f}-{self.high:.1f}%"


def band(values: Sequence[float]) -> Band:
    return Band(float(min(values)), float(max(values)))


@dataclass(frozen=True)
class ModelSummary:
    forget_acc: float  # A_Df, %
    retain_acc: float  # A_Dr, %
    distribution: list[float]  # % of the forget-class test images predicted as each class
    where: dict[int, float]  # retain class (or APART) -> % of the embedding's forget-class points inside its cluster


@dataclass(frozen=True)
class RetrainSpread:
    seeds: list[int]  # the training seeds of the references
    forget_acc: Band  # A_Df over the seeds
    retain_acc: Band  # A_Dr over the seeds
    distribution: list[Band]  # per class: % of the forget-class test images it gets
    where: dict[int, Band]  # per retain class (or APART): % of forget-class points inside its cluster
    per_seed: list[ModelSummary]  # each reference's values, in `seeds` order

    def to_dict(self) -> dict:
        out = asdict(self)
        out["where"] = {str(c): b for c, b in out["where"].items()}
        for s in out["per_seed"]:
            s["where"] = {str(c): v for c, v in s["where"].items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> RetrainSpread:
        return cls(
            list(d["seeds"]),
            Band(**d["forget_acc"]),
            Band(**d["retain_acc"]),
            [Band(**b) for b in d["distribution"]],
            {int(c): Band(**b) for c, b in d["where"].items()},
            [
                ModelSummary(
                    s["forget_acc"],
                    s["retain_acc"],
                    list(s["distribution"]),
                    {int(c): v for c, v in s["where"].items()},
                )
                for s in d["per_seed"]
            ],
        )


def summary(evaluation: Mapping[str, Any], where: Sequence[Sequence[float]]) -> ModelSummary:
    """A model's summary from its evaluation (`Evaluation.to_dict()`, as a run record keeps it) and where its
    forget-class points sit (`Embedding.where[stage]`)."""
    counts = np.asarray(evaluation["prediction_distribution"], dtype=float)
    shares = (counts / max(counts.sum(), 1) * 100).tolist()
    return ModelSummary(
        evaluation["forget_acc"], evaluation["retain_acc"], shares, {int(c): float(p) for c, p in where}
    )


def summaries(
    models: Mapping[str, Classifier],
    data: ImageData,
    forget: Sequence[int],
    settings: EmbeddingSettings,
    fixed: bool = False,
) -> dict[str, ModelSummary]:
    """Each model's summary (by name). Where the forget-class points sit is measured on the model's own features
    of the embedding's sample: cluster membership does not change under the shared embedding's centring, scaling
    and rotation, so it is the embedding's. `fixed`: the weights never change (their test logits are cached)."""
    chosen = sample(data, settings)
    labels = data.test_y.cpu()[chosen.index].numpy()
    out = {}
    for name, model in models.items():
        points = {name: model_pass(model, data, chosen).features}
        where = whereabouts(points, labels, forget, settings.inside)[name]
        out[name] = summary(evaluate(model, data, forget, fixed=fixed).to_dict(), where)
    return out


def retrain_spread(
    references: Mapping[int, Classifier],
    data: ImageData,
    forget: Sequence[int],
    settings: EmbeddingSettings,
) -> RetrainSpread:
    """The band of every summary over the references (by training seed; at least two)."""
    if len(references) < 2:
        raise ConfigError(f"A spread needs references of at least two seeds, got {len(references)}.")
    found = summaries({str(s): m for s, m in references.items()}, data, forget, settings, fixed=True)
    per_seed = list(found.values())
    places = sorted({c for s in per_seed for c in s.where})
    return RetrainSpread(
        list(references),
        band([s.forget_acc for s in per_seed]),
        band([s.retain_acc for s in per_seed]),
        [band([s.distribution[c] for s in per_seed]) for c in range(data.num_classes)],
        {c: band([s.where.get(c, 0.0) for s in per_seed]) for c in places},
        per_seed,
    )


def within(spread: RetrainSpread, unlearned: ModelSummary, class_names: Sequence[str]) -> str:
    """Whether the unlearned model is within what retraining itself varies, summary by summary (raw text)."""

    def verdict(value: float, b: Band) -> str:
        if b.holds(value):
            return "within what retraining itself varies"
        return f"{value - b.high:.1f} points above it" if value > b.high else f"{b.low - value:.1f} points below it"

    inside_dist = sum(b.holds(v) for b, v in zip(spread.distribution, unlearned.distribution))
    main = max(spread.where, key=lambda c: np.mean([s.where.get(c, 0.0) for s in spread.per_seed]))
    place = "apart from every retain-class cluster" if main == APART else f"inside the {class_names[main]} cluster"
    share = unlearned.where.get(main, 0.0)
    return (
        f"Retrained with {len(spread.seeds)} seeds ({', '.join(map(str, spread.seeds))}), A_Df spans "
        f"{spread.forget_acc.words()} and A_Dr {spread.retain_acc.words()}. The unlearned model's A_Df "
        f"{unlearned.forget_acc:.1f}% is {verdict(unlearned.forget_acc, spread.forget_acc)}; its A_Dr "
        f"{unlearned.retain_acc:.1f}% is {verdict(unlearned.retain_acc, spread.retain_acc)}. Its forget-class "
        f"predictions are within the retrained band for {inside_dist} of {len(spread.distribution)} classes. In "
        f"the embedding {share:.0f}% of its forget-class images sit {place} (retrained: "
        f"{spread.where[main].words()}): {verdict(share, spread.where[main])}."
    )
