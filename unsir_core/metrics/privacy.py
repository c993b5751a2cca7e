"""Privacy-style metrics: membership inference (MIA), activation distance, JS divergence and ZRF.

These are audits of a finished model, not unlearning: MIA and ZRF read forget-class samples (MIA the
forget-class *training* samples) to measure what the model still gives away.

- MIA: a logistic regression on a 1-D feature of the softmax learns to tell retain-class training
  samples (members) from retain-class test samples (non-members); applied to the forget-class
  training samples it reports the % it still calls "member". Papers disagree on the feature, so
  the variant is part of the result. The attack's own accuracy and AUC on held-out members and
  non-members come with it: when its 95% interval includes 50% the attack is at chance on this model
  and the member rate carries no information (a well-generalising model leaks nothing it can read).
- Worst-case privacy score referenced to the retrained model (Unlearning Comparator, Lee et al., IEEE
  TVCG 2025): see `retrain_privacy`.
- Activation distance: mean L2 distance between two models' softmax outputs.
- ZRF (Bad Teacher, Chundawat et al.): 1 - mean JS divergence between the model's and a randomly
  initialised model's softmax outputs on the forget-class test images; 1 = as uninformed as random.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from unsir_core.common.errors import ConfigError
from unsir_core.data import ImageData
from unsir_core.metrics.evaluate import predict_logits
from unsir_core.models.classifier import Classifier

MIA_VARIANTS: dict[str, str] = {
    "entropy": "Entropy attack: a logistic regression on the entropy of the softmax output, trained to tell "
    "retain-class training images (members) from test images (non-members), then applied to the "
    "forget-class training images.",
    "confidence": "Confidence attack: a logistic regression on the softmax probability of the true class, trained "
    "to tell retain-class training images (members) from test images (non-members), then applied "
    "to the forget-class training images.",
}
MIA_SAMPLES = 500  # members and non-members drawn per attack, by Results and Compare alike (halves fit / score)
CHANCE = 50.0  # % accuracy of guessing member or non-member (equal numbers of each)


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion, in % (0, 100 when n = 0)."""
    if n == 0:
        return 0.0, 100.0
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return round(max(0.0, centre - half) * 100, 2), round(min(1.0, centre + half) * 100, 2)


@dataclass(frozen=True)
class MiaResult:
    variant: str  # "entropy" or "confidence": the feature the attack reads
    description: str  # one sentence defining the attack, shown in the UI
    forget_member_rate: float  # % of forget-class training samples the attack calls "member"
    attack_acc: float  # % accuracy of the attack on the held-out half of its members/non-members
    n_train: int  # samples the attack was fitted on (half members, half non-members)
    n_forget: int  # forget-class training samples it was applied to
    attack_auc: float = float("nan")  # ROC AUC of the attack on the held-out half (0.5 = chance)
    acc_low: float = 0.0  # 95% Wilson interval of attack_acc, %
    acc_high: float = 100.0
    n_score: int = 0  # held-out samples attack_acc and attack_auc were measured on
    seed: int = 0  # seed of the sampling: the same seed and n give every model the same attack data

    @property
    def at_chance(self) -> bool:
        """True when the attack's accuracy cannot be told from guessing (its 95% interval includes 50%)."""
        return self.acc_low <= CHANCE <= self.acc_high

    def to_dict(self) -> dict:
        return {**asdict(self), "at_chance": self.at_chance}


def mia_feature(logits: torch.Tensor, y: torch.Tensor, variant: str) -> np.ndarray:
    """Logits [N, K] and labels [N] -> the attack's feature [N, 1] (float64, on the host)."""
    probs = logits.double().softmax(1)  # [N, K]
    if variant == "entropy":
        feature = -torch.xlogy(probs, probs).sum(1)  # [N], 0 log 0 = 0
    else:
        feature = probs.gather(1, y.to(probs.device).view(-1, 1)).squeeze(1)  # [N]
    return feature.cpu().numpy().reshape(-1, 1)


def _pick(candidates: torch.Tensor, k: int, gen: torch.Generator) -> torch.Tensor:
    """k of the index tensor `candidates`, at random."""
    return candidates[torch.randperm(len(candidates), generator=gen)[:k]]


def _member_pool(
    data: ImageData, forget: Sequence[int], retain_train_idx: Sequence[int] | torch.Tensor | None
) -> torch.Tensor:
    """Training indices of retain-class samples: `retain_train_idx` (checked) or all of them."""
    if retain_train_idx is None:
        return (~data.class_mask(data.train_y, forget)).nonzero().flatten().cpu()
    idx = torch.as_tensor(retain_train_idx, dtype=torch.long).cpu()
    if data.class_mask(data.train_y[idx.to(data.device)], forget).any():
        raise ConfigError("retain_train_idx contains forget-class samples: members must come from retain classes.")
    return idx


def fit_attack(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int],
    retain_train_idx: Sequence[int] | torch.Tensor | None = None,
    variant: str = "entropy",
    n: int = MIA_SAMPLES,
    seed: int = 0,
) -> tuple[Pipeline, np.ndarray, np.ndarray, torch.Tensor, int]:
    """The `variant` attack fitted on half of up to `n` members and `n` non-members (see `membership_inference`):
    (attack, held-out features, held-out labels, the forget-class training indices drawn, samples fitted on)."""
    if variant not in MIA_VARIANTS:
        raise ConfigError(f"Unknown membership-inference variant {variant!r}: choose one of {', '.join(MIA_VARIANTS)}.")
    if not forget:
        raise ConfigError("Membership inference needs at least one forgotten class.")
    gen = torch.Generator().manual_seed(seed)
    members = _member_pool(data, forget, retain_train_idx)
    outsiders = (~data.class_mask(data.test_y, forget)).nonzero().flatten().cpu()
    forget_idx = _pick(data.class_mask(data.train_y, forget).nonzero().flatten().cpu(), n, gen)
    k = min(n, len(members), len(outsiders))
    if k < 2 or len(forget_idx) == 0:
        raise ConfigError(
            f"Membership inference needs at least 2 retain-class training and test samples and 1 forget-class "
            f"training sample; got {len(members)}, {len(outsiders)} and {len(forget_idx)}. Use a larger data set."
        )
    members, outsiders = _pick(members, k, gen), _pick(outsiders, k, gen)

    def feature(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> np.ndarray:
        idx = idx.to(x.device)
        return mia_feature(predict_logits(model, x[idx]), y[idx], variant)

    f_in = feature(data.train_x, data.train_y, members)  # [k, 1]
    f_out = feature(data.test_x, data.test_y, outsiders)  # [k, 1]
    half = (k + 1) // 2
    fit_x = np.concatenate([f_in[:half], f_out[:half]])
    fit_y = np.concatenate([np.ones(half), np.zeros(half)])
    attack = make_pipeline(StandardScaler(), LogisticRegression()).fit(fit_x, fit_y)
    score_x = np.concatenate([f_in[half:], f_out[half:]])
    score_y = np.concatenate([np.ones(k - half), np.zeros(k - half)])
    return attack, score_x, score_y, forget_idx, 2 * half


def member_score(attack: Pipeline, model: Classifier, x: torch.Tensor, y: torch.Tensor, variant: str) -> np.ndarray:
    """The probability [N] a fitted `variant` attack (`fit_attack`) gives that each of the uint8 images x (true
    classes y) was a training member of `model`."""
    return attack.predict_proba(mia_feature(predict_logits(model, x), y, variant))[:, 1]


def membership_inference(
    model: Classifier,
    data: ImageData,
    forget: Sequence[int],
    retain_train_idx: Sequence[int] | torch.Tensor | None = None,
    variant: str = "entropy",
    n: int = MIA_SAMPLES,
    seed: int = 0,
) -> MiaResult:
    """Fit the `variant` attack on up to `n` members and `n` non-members, apply it to the forget samples.

    Members: retain-class training samples (`retain_train_idx`, or all of them); non-members:
    retain-class test samples; both drawn at random (seeded) in equal numbers and split in halves to
    fit and to score the attack. The feature is standardised first, so the attack is a threshold on it
    at any scale (an untrained model's entropies differ only in the 4th decimal). It is then applied
    to up to `n` forget-class training samples. The samples drawn depend only on the data and the
    seed, so models compared with one seed face the same attack data. `forget` lists every class
    treated as forgotten (after sequential requests, all of them). An audit: it reads forget-class
    training data, which unlearning itself never does.
    """
    attack, score_x, score_y, forget_idx, n_fit = fit_attack(model, data, forget, retain_train_idx, variant, n, seed)
    correct = int((attack.predict(score_x) == score_y).sum())
    attack_acc = correct / len(score_y) * 100
    auc = roc_auc_score(score_y, attack.decision_function(score_x))
    forget_idx = forget_idx.to(data.train_x.device)
    member_rate = (
        attack.predict(
            mia_feature(predict_logits(model, data.train_x[forget_idx]), data.train_y[forget_idx], variant)
        ).mean()
        * 100
    )
    low, high = wilson_interval(correct, len(score_y))
    return MiaResult(
        variant,
        MIA_VARIANTS[variant],
        round(float(member_rate), 2),
        round(float(attack_acc), 2),
        n_fit,
        len(forget_idx),
        round(float(auc), 4),
        low,
        high,
        len(score_y),
        seed,
    )


def _softmax_pair(logits_a: torch.Tensor, logits_b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Two logits [N, K] -> their softmax in float64 (b moved to a's device); ConfigError if shapes differ."""
    if logits_a.shape != logits_b.shape or logits_a.ndim != 2:
        raise ConfigError(
            f"Need two logit tensors of one shape [N, K], got {tuple(logits_a.shape)} and "
            f"{tuple(logits_b.shape)}: compare models with the same classes on the same images."
        )
    return logits_a.double().softmax(1), logits_b.to(logits_a.device).double().softmax(1)


def activation_distance(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean over N of ||softmax(a) - softmax(b)||_2 for logits [N, K] (nan when N = 0); in [0, sqrt 2]."""
    p, q = _softmax_pair(logits_a, logits_b)
    return (p - q).norm(dim=1).mean().item()


def js_divergence(logits_a: torch.Tensor, logits_b: torch.Tensor) -> float:
    """Mean over N of JS(softmax(a), softmax(b)) for logits [N, K], natural log: in [0, ln 2] (nan when N = 0).

    JS(P, Q) = (KL(P || M) + KL(Q || M)) / 2 with M = (P + Q) / 2.
    """
    p, q = _softmax_pair(logits_a, logits_b)
    m = (p + q) / 2

    def kl_to_m(r: torch.Tensor) -> torch.Tensor:  # [N]; 0 log 0 = 0
        return (torch.xlogy(r, r) - torch.xlogy(r, m)).sum(1)

    return ((kl_to_m(p) + kl_to_m(q)) / 2).mean().item()


def random_model(model: Classifier, seed: int) -> Classifier:
    """A freshly initialised network of `model`'s architecture, on its device; global RNG state untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        fresh = Classifier.create(model.info)
    fresh.net.to(model.device)
    return fresh


def zrf_score(model: Classifier, data: ImageData, forget: Sequence[int], seed: int = 0) -> float:
    """ZRF = 1 - mean JS(model, random model) on the forget-class test images; in [1 - ln 2, 1].

    The random model is `Classifier.create(model.info)` under `torch.manual_seed(seed)`. The Bad
    Teacher code computes F.kl_div(log P, M) with 'mean' reduction (KL(M || P), divided by the number
    of classes too), so its ZRF values sit closer to 1 than this standard per-sample JS.
    """
    mask = data.class_mask(data.test_y, forget)
    if not forget or not mask.any():
        raise ConfigError(f"ZRF needs forget-class test images; {data.name} has none of classes {list(forget)}.")
    x = data.test_x[mask]
    return 1 - js_divergence(predict_logits(model, x), predict_logits(random_model(model, seed), x))
