"""The paper's sensitivity studies as sweep presets (data): what each one sweeps, and what the paper found.

Each study names the setting it varies and a grid of values around the paper's (the learning-rate grids also hold
the paper's CIFAR-10 value, so a reference point can line up). `finding` says what the source reports, in words;
`reference` holds published numbers where we have them, with the data set and architecture they were measured on:
they are shown only beside a sweep of that same setup.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import mean, pstdev
from typing import Any

from unsir_core.common.config import ABLATIONS
from unsir_core.common.errors import ConfigError

PAPER = "Tarun et al., Fast Yet Effective Machine Unlearning (IEEE TNNLS 2023, arXiv:2111.08947)"
NOTEBOOK = (
    "the authors' notebook, Machine Unlearning.ipynb in github.com/vikram2000b/Fast-Machine-Unlearning "
    "(CIFAR-10, torchvision ResNet18, forgetting airplane and bird; impair Adam 0.02, repair Adam 0.01)"
)


@dataclass(frozen=True)
class ReferencePoint:
    """A published result at one value of a study's setting."""

    value: float  # the setting's value it was measured at
    forget_acc_impair: float  # A_Df after impair, %
    retain_acc_impair: float  # A_Dr after impair, %
    forget_acc_repair: float  # A_Df after repair, %
    retain_acc_repair: float  # A_Dr after repair, %
    dataset: str  # data set it was measured on (registry key)
    arch: str  # architecture (registry key)
    source: str  # where the numbers come from


NOTEBOOK_RUN = dict(
    forget_acc_impair=0.63,
    retain_acc_impair=68.18,
    forget_acc_repair=0.0,
    retain_acc_repair=70.95,
    dataset="cifar10",
    arch="resnet18_tv",
    source=NOTEBOOK,
)


@dataclass(frozen=True)
class Study:
    key: str  # name on the command line (--study) and in the dashboard
    title: str  # shown in the UI
    setting: str | None  # dotted UNSIR setting it sweeps; None for the number of forgotten classes
    values: tuple[float | str, ...]  # the grid (for setting None: how many classes are forgotten)
    finding: str  # what the source reports, in words
    source: str  # where the finding comes from
    reference: tuple[ReferencePoint, ...] = ()  # published numbers, when known

    def reference_for(self, dataset: str, arch: str) -> dict[float, ReferencePoint]:
        """The reference points measured on this data set and architecture, by value."""
        return {p.value: p for p in self.reference if p.dataset == dataset and p.arch == arch}


STUDIES: dict[str, Study] = {
    s.key: s
    for s in (
        Study(
            "table5",
            "Impair learning rate (paper Table 5)",
            "impair.lr",
            (0.001, 0.01, 0.02, 0.1, 1.0),
            "The learning rates are the most sensitive settings: an impair rate of 0.001 does not forget, while 0.1 "
            "or 1 wrecks the retain accuracy (CIFAR-10; 0.02 is the paper's choice).",
            f"{PAPER}, Tables 5-6",
            (ReferencePoint(0.02, **NOTEBOOK_RUN),),
        ),
        Study(
            "table6",
            "Repair learning rate (paper Table 6)",
            "repair.lr",
            (0.001, 0.002, 0.005, 0.01, 0.05),
            "Repair restores the retain classes; like impair, its learning rate is among the most sensitive "
            "settings, and too high a rate damages the network again (CIFAR-10; 0.01 is the paper's choice).",
            f"{PAPER}, Tables 5-6",
            (ReferencePoint(0.01, **NOTEBOOK_RUN),),
        ),
        Study(
            "table8",
            "Retain samples per class (paper Table 8)",
            "retain_per_class",
            (10, 50, 100, 250, 500),
            "1% of the retain data is too little to repair the network; 10-20% works (CIFAR-10 uses 1000 per "
            "class, 20%).",
            f"{PAPER}, Table 8",
        ),
        Study(
            "table9",
            "λ, the noise penalty (paper Table 9)",
            "noise.l2_weight",
            (0.0, 0.001, 0.01, 0.1, 1.0, 10.0),
            "λ = 0.1 works across tasks; Table 9 sweeps λ from 0 to 10.",
            f"{PAPER}, Table 9",
        ),
        Study(
            "fig7",
            "Repair epochs (paper Fig. 7)",
            "repair.epochs",
            (1, 2, 3, 4, 5),
            "More repair epochs help a little: the retain accuracy heals further while the forget classes stay "
            "forgotten.",
            f"{PAPER}, Fig. 7",
        ),
        Study(
            "table1",
            "Number of forgotten classes (paper Table 1)",
            None,
            (1, 2, 4, 7),
            "Unlearning several classes needs about as many update steps as one, and with more classes to forget "
            "repair becomes more effective: A_Dr comes closer to the original's.",
            f"{PAPER}, Table 1 and abstract",
        ),
        Study(
            "ablation",
            "What each part contributes (ablation)",
            "ablation",
            tuple(ABLATIONS),
            "UNSIR with one part taken out, the same recipe otherwise. The paper's claim is that the noise does the "
            "forgetting: without it, impair and repair on the retain subset alone should leave the forget classes "
            "largely recognised, and without repair the retain classes stay damaged.",
            f"{PAPER}, Section 3 (the method's steps); the ablation itself is this project's",
        ),
    )
}


def get_study(key: str) -> Study:
    study = STUDIES.get(key)
    if study is None:
        raise ConfigError(f"Unknown study {key!r}. Choose one of: {', '.join(STUDIES)}.")
    return study


@dataclass(frozen=True)
class Contribution:
    """What the noise contributes: A_Df (%) after impair and after repair with it and without it, over seeds."""

    seeds: int  # seeds measured both ways
    with_noise: tuple[float, float]  # mean A_Df after impair, after repair
    without: tuple[float, float]  # the same without noise (impair on the retain subset only)
    spread: tuple[float, float, float, float]  # standard deviations over seeds, in the same order
    original: float  # the original's A_Df, mean

    def sentence(self) -> str:
        (wi, wr), (oi, orr) = self.with_noise, self.without
        si, sr, soi, sor = self.spread
        return (
            f"The noise's contribution over {self.seeds} seed{'s' if self.seeds > 1 else ''} (A_Df, original "
            f"{self.original:.1f}%): after impair {wi:.1f} ± {si:.1f}% with noise, {oi:.1f} ± {soi:.1f}% without; "
            f"after repair {wr:.1f} ± {sr:.1f}% with noise, {orr:.1f} ± {sor:.1f}% without."
        )


def noise_contribution(rows: Sequence[Mapping[str, Any]]) -> Contribution | None:
    """The contribution from a sweep's rows (`SweepResult.frame().to_dict("records")`) that ran the ablation
    "none" and "no-noise" for the same seeds; None when it lacks either."""
    ok = [r for r in rows if r.get("status") == "ok"]
    by = {(r["ablation"], r["seed"], r["forget"]): r for r in ok if "ablation" in r}
    pairs = [(by[("none", s, f)], by[("no-noise", s, f)]) for a, s, f in by if a == "none" and ("no-noise", s, f) in by]
    if not pairs:
        return None

    def stats(key: str, side: int) -> tuple[float, float]:
        values = [p[side][key] for p in pairs]
        return round(mean(values), 2), round(pstdev(values), 2)

    (wi, swi), (wr, swr) = stats("forget_acc_impair", 0), stats("forget_acc_repair", 0)
    (oi, soi), (orr, sor) = stats("forget_acc_impair", 1), stats("forget_acc_repair", 1)
    original = round(mean(p[0]["forget_acc_original"] for p in pairs), 2)
    return Contribution(len(pairs), (wi, wr), (oi, orr), (swi, swr, soi, sor), original)
