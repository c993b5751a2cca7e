"""Where the forget class went: penultimate features of a fixed, stratified sample of test images under
several models (original, unlearned, retrained), projected into one shared 2-D space, and a sentence that
says where the forget-class points sit in each model.

Shared space: each model's features (the classifier head's input, `probe.penultimate`) are centred and scaled
to unit mean norm; every model other than the reference ("original") is then rotated onto the reference by
orthogonal Procrustes fitted on the retain-class points only (a retrained network's neurons are in no
particular order, so without it its points would land anywhere); one projection (PCA, or seeded UMAP) is
fitted once on the union of all models' points. Positions are therefore comparable across the panels.

Cluster membership, in the shared feature space (aligned, before the projection, so that PCA and UMAP tell the
same story), per model: the cluster of a retain class is its own points (true labels) in that model; a
forget-class point sits *inside* the cluster whose centroid is nearest when it is no farther from it than
`inside` percent of that class's own points are; otherwise it sits *apart* (in a cluster of its own, as in
the original). An audit: it reads forget-class test images.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from scipy.linalg import orthogonal_procrustes
from sklearn.decomposition import PCA

from unsir_core.common.errors import ConfigError
from unsir_core.common.paths import home

PROJECTIONS = {
    "pca": "PCA (scikit-learn, 2 components)",
    "umap": "UMAP (umap-learn)",
}
APART = -1  # the "cluster" of a forget point inside no retain-class cluster
MAJORITY = 0.6  # a share at least this large is told as "most"; below it, the two largest shares are told


@dataclass(frozen=True)
class EmbeddingSettings:
    method: str = "pca"  # "pca" (instant) or "umap" (seeded, seconds to tens of seconds on a CPU)
    points: int = 2000  # test images drawn, stratified: the same number per class (all of a smaller class)
    seed: int = 0  # seed of the sample and of UMAP
    neighbors: int = 15  # UMAP n_neighbors (umap-learn's default): larger keeps more global structure
    min_dist: float = 0.1  # UMAP min_dist (umap-learn's default): smaller packs clusters tighter
    epochs: int = 200  # UMAP n_epochs (umap-learn picks 500 below 10,000 points: 2.5x the time, same picture)
    inside: float = 90.0  # percentile of a class's own distances to its centroid that bounds its cluster
    reference: str = "original"  # the model the others are rotated onto

    def __post_init__(self):
        if self.method not in PROJECTIONS:
            raise ConfigError(f"Unknown projection {self.method!r}: choose one of {', '.join(PROJECTIONS)}.")
        if self.points < 2:
            raise ConfigError(f"An embedding needs at least 2 points, got {self.points}.")
        if not 0 < self.inside <= 100:
            raise ConfigError(f"The cluster percentile must be in (0, 100], got {self.inside}.")

    def describe(self) -> str:
        """The projection and its parameters, in words (shown under every embedding chart)."""
        how = PROJECTIONS[self.method]
        if self.method == "umap":
            how += (
                f", n_neighbors {self.neighbors}, min_dist {self.min_dist:g}, n_epochs {self.epochs}, seed {self.seed}"
            )
        return (
            f"{how}, fitted once on the union of the models' points; each model's penultimate features were "
            f"first centred, scaled and rotated onto the {self.reference} model's (orthogonal Procrustes on the "
            f"retain-class points), so positions compare across panels. Sample: up to {self.points} test images, "
            f"the same number per class (seed {self.seed}). The sentence is measured in the aligned feature space "
            "(not the 2-D picture): a forget-class point is inside a retain class's cluster when that class's "
            f"centroid is the nearest and no farther than {self.inside:g}% of the class's own points are; "
            "otherwise apart."
        )


@dataclass(frozen=True)
class Embedding:
    index: list[int]  # test-split indices of the points, ascending
    labels: list[int]  # true class of each point
    coords: dict[str, list[list[float]]]  # stage -> [N, 2] positions in the shared space
    predictions: dict[str, list[int]]  # stage -> class each model predicts for each point
    where: dict[str, list[list[float]]]  # stage -> [[retain class or APART, % of forget points], ...], largest first
    settings: EmbeddingSettings = field(default_factory=EmbeddingSettings)  # how it was made

    def to_dict(self, decimals: int = 3) -> dict:
        """JSON-ready, positions rounded (the run record keeps a few hundred KB at most)."""
        out = asdict(self)
        out["coords"] = {s: np.round(np.asarray(c), decimals).tolist() for s, c in self.coords.items()}
        return out

    @classmethod
    def from_dict(cls, d: Mapping) -> Embedding:
        return cls(
            list(d["index"]),
            list(d["labels"]),
            {s: [list(p) for p in c] for s, c in d["coords"].items()},
            {s: list(p) for s, p in d["predictions"].items()},
            {s: [list(p) for p in w] for s, w in d["where"].items()},
            EmbeddingSettings(**d["settings"]),
        )


def stratified_sample(labels: torch.Tensor, num_classes: int, points: int, seed: int) -> torch.Tensor:
    """Up to `points` indices into `labels`: points // num_classes per class at random (seeded), ascending."""
    gen = torch.Generator().manual_seed(seed)
    per_class = max(1, points // num_classes)
    y = labels.cpu()
    picks = []
    for c in range(num_classes):
        idx = (y == c).nonzero().flatten()
        picks.append(idx[torch.randperm(len(idx), generator=gen)[:per_class]])
    return torch.cat(picks).sort().values


def _normalized(f: np.ndarray) -> np.ndarray:
    """Centred, and scaled so that the mean row norm is 1 (networks differ in feature scale)."""
    f = f - f.mean(0, keepdims=True)
    return f / max(float(np.linalg.norm(f, axis=1).mean()), 1e-12)


def shared_features(features: Mapping[str, np.ndarray], retain: np.ndarray, reference: str) -> dict[str, np.ndarray]:
    """Each model's features [N, D] normalised and rotated onto `reference`'s (Procrustes on the `retain` rows)."""
    if reference not in features:
        raise ConfigError(f"The embedding's reference model {reference!r} is not among {', '.join(features)}.")
    dims = {s: f.shape[1] for s, f in features.items()}
    if len(set(dims.values())) > 1:
        raise ConfigError(
            f"The models' penultimate features differ in size ({dims}): a shared embedding needs one architecture "
            "and width."
        )
    base = _normalized(features[reference])
    out = {}
    for stage, f in features.items():
        f = _normalized(f)
        if stage != reference:
            rotation, _ = orthogonal_procrustes(f[retain], base[retain])
            f = f @ rotation
        out[stage] = f
    return out


def project(features: Mapping[str, np.ndarray], settings: EmbeddingSettings) -> dict[str, np.ndarray]:
    """One 2-D projection fitted on the union of the models' rows, split back per model."""
    stages = list(features)
    union = np.concatenate([features[s] for s in stages]).astype(np.float32)
    if settings.method == "pca":
        flat = PCA(n_components=2, random_state=settings.seed).fit_transform(union)
    else:
        flat = umap_projection(union, settings)
    n = len(features[stages[0]])
    return {s: flat[i * n : (i + 1) * n] for i, s in enumerate(stages)}


def umap_projection(union: np.ndarray, settings: EmbeddingSettings) -> np.ndarray:
    """Seeded UMAP of `union` [M, D] on its exact nearest neighbours (scikit-learn, about a second for 6,000
    points): umap-learn then skips pynndescent, whose numba compilation was most of a first call's minutes."""
    from sklearn.neighbors import NearestNeighbors

    umap = umap_module()
    k = min(settings.neighbors, len(union) - 1)
    dist, idx = NearestNeighbors(n_neighbors=k).fit(union).kneighbors(union)  # each point first, at distance 0
    with warnings.catch_warnings():  # "n_jobs overridden by random_state" and "no search index": both expected
        warnings.simplefilter("ignore", UserWarning)
        return umap.UMAP(
            n_components=2,
            n_neighbors=k,
            min_dist=settings.min_dist,
            n_epochs=settings.epochs,
            random_state=settings.seed,
            precomputed_knn=(idx, dist.astype(np.float32), None),
        ).fit_transform(union)


_umap_ready = threading.Lock()


def umap_module():
    """umap-learn, its numba functions cached on disk under $UNSIR_HOME/numba: most are not declared
    `cache=True`, so caching is switched on for each before its first call. The first process on a machine
    compiles them (tens of seconds on the 2-core CPU), every later one loads them. Imported on demand: loading
    numba costs seconds, and PCA needs none of it."""
    with _umap_ready:
        import numba
        import umap
        import umap.layouts
        import umap.spectral
        import umap.umap_
        import umap.utils
        from numba.core.caching import NullCache
        from numba.core.registry import CPUDispatcher

        if not numba.config.CACHE_DIR:
            numba.config.CACHE_DIR = str(home() / "numba")
        for module in (umap.umap_, umap.layouts, umap.spectral, umap.utils):
            for fn in vars(module).values():
                if isinstance(fn, CPUDispatcher) and isinstance(fn._cache, NullCache):
                    try:
                        fn.enable_caching()
                    except (OSError, RuntimeError):  # an unwritable cache folder: compile in memory, as before
                        continue
    return umap


def arrange(
    features: Mapping[str, np.ndarray],
    predictions: Mapping[str, list[int]],
    index: torch.Tensor,
    labels: np.ndarray,
    forget: Sequence[int],
    settings: EmbeddingSettings,
) -> Embedding:
    """The shared 2-D embedding of the sample `index` (true `labels`) from each model's penultimate `features`
    [N, D] and `predictions` (by stage): aligned, projected once, and the forget classes located."""
    if not features:
        raise ConfigError("An embedding needs at least one model.")
    retain = ~np.isin(labels, list(forget))
    if retain.sum() < 2:
        raise ConfigError("An embedding needs retain-class test images to align the models; this sample has none.")
    shared = shared_features(features, retain, settings.reference)
    coords = project(shared, settings)
    return Embedding(
        index.tolist(),
        labels.tolist(),
        {s: c.tolist() for s, c in coords.items()},
        {s: list(p) for s, p in predictions.items()},
        whereabouts(shared, labels, forget, settings.inside),
        settings,
    )


def clusters(points: np.ndarray, labels: np.ndarray, forget: Sequence[int], inside: float) -> np.ndarray:
    """For every point [N, D]: the retain class whose cluster it sits inside (see the module docstring), or APART."""
    retain = [c for c in np.unique(labels) if c not in set(forget)]
    if not retain:
        return np.full(len(points), APART)
    centroids = np.stack([points[labels == c].mean(0) for c in retain])  # [R, D]
    radius = np.array(
        [
            np.percentile(np.linalg.norm(points[labels == c] - centroids[i], axis=1), inside)
            for i, c in enumerate(retain)
        ]
    )  # [R]
    dist = np.linalg.norm(points[:, None, :] - centroids[None], axis=2)  # [N, R]
    nearest = dist.argmin(1)
    within = dist[np.arange(len(points)), nearest] <= radius[nearest]
    return np.where(within, np.asarray(retain)[nearest], APART)


def whereabouts(
    points: Mapping[str, np.ndarray], labels: np.ndarray, forget: Sequence[int], inside: float
) -> dict[str, list[list[float]]]:
    """Per model: where its forget-class points sit, as [[retain class or APART, share in %], ...], largest first."""
    mask = np.isin(labels, list(forget))
    if not mask.any():
        raise ConfigError("The embedding's sample holds no forget-class image: nothing to locate.")
    out = {}
    for stage, p in points.items():
        found, counts = np.unique(clusters(p, labels, forget, inside)[mask], return_counts=True)
        shares = sorted(((int(c), float(n / mask.sum() * 100)) for c, n in zip(found, counts)), key=lambda cs: -cs[1])
        out[stage] = [[c, share] for c, share in shares]
    return out


def _place(cls: float, class_names: Sequence[str]) -> str:
    cls = int(cls)
    return "apart from every retain-class cluster" if cls == APART else f"inside the {class_names[cls]} cluster"


def sentence(embedding: Embedding, forget: Sequence[int], class_names: Sequence[str], titles: Mapping[str, str]) -> str:
    """Where the forget-class points went in each model, in one sentence (raw text: escape it where shown).

    `titles` names the stages ("repair" -> "unlearned model"). A share of MAJORITY or more is told alone;
    otherwise the two largest."""
    what = " and ".join(class_names[c] for c in forget) + " images"
    parts = []
    for stage, shares in embedding.where.items():
        (first, a), *rest = shares
        if a >= MAJORITY * 100 or not rest:
            parts.append(f"in the {titles.get(stage, stage)} {a:.0f}% of {what} sit {_place(first, class_names)}")
        else:
            second, b = rest[0]
            second = int(second)
            parts.append(
                f"in the {titles.get(stage, stage)} {what} spread: {a:.0f}% {_place(first, class_names)}, "
                f"{b:.0f}% {_place(second, class_names)}"
            )
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."
