"""Retrained references (the gold standard): found by what they are, trained once, reused everywhere.

A reference is a model of the original's architecture and width, trained from scratch without the
forgotten classes. It is identified by `ReferenceKey`: data set, architecture, width, forgotten
classes and the training settings (`TrainConfig`, seed included), all read from the checkpoint's own
metadata, so a file's name does not matter. Shipped references live in `assets/references/` (made by
`python -m unsir_core train --exclude CLASS`, see the README); references trained here are saved in
`$UNSIR_HOME/references/` and found again by every later session, Compare, Results and the CLI.

A reference trained too briefly makes every "distance to retrain" meaningless: `strength` is its A_Dr
as a fraction of the original's, and below `UNDER_TRAINED_BELOW` it is flagged wherever it is used.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch

from unsir_core.checkpoints.store import load_model, read_info, save_model, slug
from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import CheckpointError
from unsir_core.common.numbers import pct
from unsir_core.common.paths import ASSETS_DIR, home
from unsir_core.common.progress import CancelToken, ProgressFn
from unsir_core.data import ImageData
from unsir_core.models.classifier import Classifier, ModelInfo
from unsir_core.training.train import fit

SHIPPED_DIR = ASSETS_DIR.parent / "references"  # read-only references that come with the project
UNDER_TRAINED_BELOW = 0.95  # a reference whose A_Dr is under this fraction of the original's is under-trained


def store_dir() -> Path:
    """Where references trained on this machine are kept: $UNSIR_HOME/references."""
    return home() / "references"


def _train_config(recorded: dict) -> TrainConfig:
    known = {f.name for f in fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in recorded.items() if k in known})


@dataclass(frozen=True)
class ReferenceKey:
    """What makes two references interchangeable."""

    dataset: str  # data set name
    arch: str  # architecture (registry key)
    width: float  # channel multiplier
    forgotten: tuple[int, ...]  # classes left out of training, sorted
    train: TrainConfig  # every training setting, seed included

    @classmethod
    def for_original(cls, original: ModelInfo, gone: Sequence[int], cfg: TrainConfig) -> ReferenceKey:
        return cls(original.dataset, original.arch, float(original.width), tuple(sorted(gone)), cfg)

    @classmethod
    def of(cls, info: ModelInfo) -> ReferenceKey | None:
        """The key of a stored retrained model; None for anything else."""
        if info.origin != "retrained" or not info.forgotten or "train_config" not in info.details:
            return None
        return cls(
            info.dataset,
            info.arch,
            float(info.width),
            tuple(sorted(info.forgotten)),
            _train_config(info.details["train_config"]),
        )

    def file_name(self, class_names: Sequence[str]) -> str:
        """`<data set>-<arch>-without-<classes>-<8 hex digits of width and settings>.safetensors`."""
        # a setting left at None (added later, e.g. input_size) is left out, so older references keep their names
        settings = {k: v for k, v in asdict(self.train).items() if v is not None}
        digest = hashlib.sha1(json.dumps([self.width, settings], sort_keys=True).encode()).hexdigest()[:8]
        names = "-".join(class_names[c] for c in self.forgotten)
        return slug(f"{self.dataset}-{self.arch}-without-{names}-{digest}") + ".safetensors"


@dataclass(frozen=True)
class Reference:
    model: Classifier  # the retrained model (CPU, eval mode)
    path: Path | None  # where it is stored (None when it could not be saved)
    reused: bool  # True when it was found in the store rather than trained now
    shipped: bool  # True when it came with the project (assets/references)


def find(key: ReferenceKey, dirs: Sequence[Path] | None = None) -> Path | None:
    """The first stored checkpoint with exactly this key (shipped ones first), or None."""
    for folder in dirs or (SHIPPED_DIR, store_dir()):
        for path in sorted(Path(folder).glob("*.safetensors")):
            try:
                if ReferenceKey.of(read_info(path)) == key:
                    return path
            except CheckpointError:
                continue
    return None


def obtain(
    original: Classifier,
    data: ImageData,
    gone: Sequence[int],
    cfg: TrainConfig,
    device: str | torch.device | None = "auto",
    progress: ProgressFn | None = None,
    cancel: CancelToken | None = None,
) -> Reference:
    """The reference for `original` without classes `gone` trained with `cfg`: loaded when stored, else
    trained now (never reading a forget-class image) and saved to the store for every later use."""
    key = ReferenceKey.for_original(original.info, gone, cfg)
    path = find(key)
    if path is not None:
        return Reference(load_model(path), path, True, path.parent == SHIPPED_DIR)
    model = fit(
        data,
        original.info.arch,
        cfg,
        exclude=key.forgotten,
        width=original.info.width,
        device=device,
        progress=progress,
        cancel=cancel,
    )
    target = store_dir() / key.file_name(data.class_names)
    try:
        save_model(model, target)
    except OSError:  # a read-only home must not lose the trained model: it is used, just not kept
        target = None
    return Reference(model, target, False, False)


def strength(reference_retain_acc: float, original_retain_acc: float) -> float:
    """The reference's A_Dr as a fraction of the original's (same retain classes, same test images)."""
    return reference_retain_acc / original_retain_acc if original_retain_acc > 0 else float("nan")


def under_trained(reference_retain_acc: float, original_retain_acc: float) -> bool:
    return strength(reference_retain_acc, original_retain_acc) < UNDER_TRAINED_BELOW


def warning(reference_retain_acc: float, original_retain_acc: float) -> str | None:
    """The under-trained warning to show next to anything measured against this reference, or None."""
    if not under_trained(reference_retain_acc, original_retain_acc):
        return None
    return (
        f"Under-trained reference: its A_Dr is {pct(reference_retain_acc)}, "
        f"{strength(reference_retain_acc, original_retain_acc):.0%} of the original's "
        f"{pct(original_retain_acc)} (a full-strength reference reaches at least {UNDER_TRAINED_BELOW:.0%}). "
        "Distances to it and its A_Df say little about real retraining: retrain with the original's epochs."
    )
