"""UNSIR presets are data: the paper's settings and settings tuned per data set and model.

Learning rates are the most sensitive knob (paper Tables 5-6), so a preset is only as good as the
measurement behind it; each tuned entry names the command and result that chose it.
"""
from __future__ import annotations

from dataclasses import dataclass

from .config import NoiseConfig, PhaseConfig, UnsirConfig
from .errors import ConfigError


@dataclass(frozen=True)
class Preset:
    name: str  # key used on the command line and in URLs
    title: str  # shown in the UI
    description: str  # where the numbers come from
    config: UnsirConfig  # the settings
    dataset: str | None = None  # data set it was tuned for (None: any)
    arch: str | None = None  # architecture it was tuned for (None: any)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "paper-cifar10", "Paper: CIFAR-10 from scratch",
            "The paper's CIFAR-10 settings: 256 noise samples x 20 copies, 1000 retain samples per class, "
            "Adam 0.02 impair and 0.01 repair, one epoch each.",
            UnsirConfig(),
        ),
        Preset(
            "paper-cifar100-pretrained", "Paper: CIFAR-100, pretrained ResNet18",
            "The paper's settings for an ImageNet-pretrained ResNet18 on CIFAR-100: 50 retain samples per "
            "class; impair lr 0.01 on the last layer and 1e-4 on the rest; repair 0.005 and 1e-4.",
            UnsirConfig(impair=PhaseConfig(lr=1e-4, head_lr=0.01), repair=PhaseConfig(lr=1e-4, head_lr=0.005),
                        retain_per_class=50),
            dataset="cifar100", arch="resnet18",
        ),
        Preset(
            "paper-vit-faces", "Paper: ViT on faces",
            "The paper's Vision Transformer settings for face recognition: impair 1e-4, repair 2e-5, "
            "100 retain samples per class.",
            UnsirConfig(impair=PhaseConfig(lr=1e-4), repair=PhaseConfig(lr=2e-5), retain_per_class=100),
            arch="vit_b_16",
        ),
        Preset(
            "shapes10", "Tuned: Shapes-10",
            "Tuned for the shipped Small CNN on Shapes-10: 64 noise samples per class x 4 copies, 500 retain "
            "samples per class, impair Adam 0.02 (batch 256, the paper's), repair Adam 0.002 x 4 epochs. "
            "Measured A_Df 0% and A_Dr 88-90% of the original for circle, triangle and square+star+heart; "
            "gentler impairs (lr <= 0.01) did not forget durably: the forget class came back during repair. "
            "On the shipped All-CNN (width 0.25): triangle A_Df 0%, A_Dr 86% of the original.",
            UnsirConfig(noise=NoiseConfig(batch_size=64, steps=20), noise_copies=4, retain_per_class=500,
                        impair=PhaseConfig(lr=0.02, batch_size=256),
                        repair=PhaseConfig(lr=0.002, batch_size=128, epochs=4)),
            dataset="shapes10",
        ),
        Preset(
            "shapes10-fast", "Tuned: Shapes-10, under 5 s on a CPU",
            "The Shapes-10 preset cut to fit a 2-core CPU in about 4 s: 300 retain samples per class and repair "
            "Adam 0.003 x 3 epochs. Measured A_Df 0% and A_Dr 80-85% of the original (triangle, star, "
            "square+star+heart): faster, but less of the retain accuracy comes back.",
            UnsirConfig(noise=NoiseConfig(batch_size=64, steps=20), noise_copies=4, retain_per_class=300,
                        impair=PhaseConfig(lr=0.02, batch_size=256),
                        repair=PhaseConfig(lr=0.003, batch_size=128, epochs=3)),
            dataset="shapes10",
        ),
    )
}


def get_preset(name: str) -> Preset:
    preset = PRESETS.get(name)
    if preset is None:
        raise ConfigError(f"Unknown preset {name!r}. Choose one of: {', '.join(PRESETS)}.")
    return preset


def preset_for(dataset: str, arch: str) -> Preset:
    """The most specific preset for a data set and architecture (the first listed among equals); the
    paper's CIFAR-10 one otherwise."""
    ranked = sorted(PRESETS.values(), key=lambda p: (p.dataset == dataset) * 2 + (p.arch == arch), reverse=True)
    best = ranked[0]
    if (best.dataset in (None, dataset)) and (best.arch in (None, arch)) and (best.dataset or best.arch):
        return best
    return PRESETS["paper-cifar10"]
