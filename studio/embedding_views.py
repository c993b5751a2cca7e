"""Where the forget class went, in the dashboard: the original, unlearned and retrained models' penultimate
features in one shared 2-D space side by side (selecting points in one panel selects the same images in the
others), the computed sentence, the layer-wise CKA, and the image inspector (each model's class
probabilities, GradCAM and membership-attack score for one test image).

The numbers come from `unsir_core.metrics.embedding`, `cka` and `privacy`; results are cached in the session
per set of models (by the digest of their weights) and settings. The Results page passes a run's models
(its PCA embedding and CKA are already in the run record); Compare passes the original, one method's result and
the retrained model.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from unsir_core.common.escaping import md, plot_text
from unsir_core.common.vocabulary import class_color

from . import charts, images, jobs, loaders
from .palette import FORGET, RETAIN, stage_color, stage_title
from .runs import RunRecord

if TYPE_CHECKING:
    from unsir_core.data import ImageData
    from unsir_core.experiments.compare_table import Comparison
    from unsir_core.metrics.embedding import Embedding
    from unsir_core.models.classifier import Classifier

CACHE = "views:cache"  # session_state: {(what, model digests, settings): result}
CACHE_SIZE = 12  # results kept per session (an embedding of 2,000 points is about 100 KB)
SHOWN = ("original", "repair", "retrain")  # a run's models the view shows, in this order
EXPLAIN = (
    "Each point is one test image, placed by the model's penultimate features (the classifier head's input) and "
    "coloured by the class that model predicts; forget-class images are the large ringed points. The panels "
    "share one 2-D space, so a point's move from one panel to the next is the model's change. Select points "
    "(box or lasso) in one panel: the same images are selected in the others, and the inspector below lists them."
)
CKA_TEXT = (
    "**Layer by layer**: linear CKA (Kornblith et al. 2019) of each layer's output on a fixed batch of 250 test "
    "images, the unlearned model against the original and against the retrained model; 1 = the same "
    "representation up to rotation and scale. Read it beside the weight distance: where the weights moved but "
    "CKA to the original stays near 1, the layer kept its representation."
)


def _digest(model: Classifier) -> str:
    from unsir_core.checkpoints.store import state_sha256

    return state_sha256(model)


def cached(what: str, models: Mapping[str, Classifier], settings: Any, compute: Callable[[], Any]) -> Any:
    """`compute()` once per session for these models (by their weights' digests) and settings."""
    key = (what, tuple((s, _digest(m)) for s, m in models.items()), settings)
    cache: dict = st.session_state.setdefault(CACHE, {})
    if key not in cache:
        cache[key] = compute()
        for old in list(cache)[:-CACHE_SIZE]:
            del cache[old]
    return cache[key]


def _selected(chart_key: str, traces: Sequence[Sequence[int]]) -> list[int]:
    """Test indices of the points selected in the chart (any panel), from its widget state."""
    event = st.session_state.get(chart_key)
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, Mapping) else []
    chosen = {traces[p["curve_number"]][p["point_index"]] for p in points if p.get("curve_number", 99) < len(traces)}
    return sorted(chosen)


def trace_indices(emb: Embedding, forget: Sequence[int]) -> list[list[int]]:
    """The test indices of each trace's points, in `figure`'s trace order (to read a selection back)."""
    index, is_forget = np.asarray(emb.index), np.isin(np.asarray(emb.labels), list(forget))
    return [index[mask].tolist() for _ in emb.coords for mask in (~is_forget, is_forget)]


def figure(
    emb: Embedding,
    class_names: Sequence[str],
    forget: Sequence[int],
    titles: Mapping[str, str],
    colors: Mapping[str, str],
    selected: Sequence[int],
) -> go.Figure:
    """The panels side by side, one shared scale: two traces per panel (retain-class points, then forget-class
    points, as `trace_indices`), then the class legend; `selectedpoints` marks the `selected` images in every
    panel."""
    stages = list(emb.coords)
    fig = make_subplots(
        rows=1,
        cols=len(stages),
        shared_xaxes=True,
        shared_yaxes=True,
        horizontal_spacing=0.02,
        subplot_titles=[f"<b style='color:{colors[s]}'>{plot_text(titles[s])}</b>" for s in stages],
    )
    labels = np.asarray(emb.labels)
    index = np.asarray(emb.index)
    is_forget = np.isin(labels, list(forget))
    chosen = set(selected)
    hover = [
        f"{plot_text(class_names[y])} · test image {i}<br>"
        + "<br>".join(f"{plot_text(titles[s])}: {plot_text(class_names[emb.predictions[s][k]])}" for s in stages)
        for k, (i, y) in enumerate(zip(index, labels))
    ]
    for col, stage in enumerate(stages, start=1):
        xy = np.asarray(emb.coords[stage])
        preds = np.asarray(emb.predictions[stage])
        for mask, size, ring in ((~is_forget, 5, 0), (is_forget, 10, 1.5)):
            rows = np.flatnonzero(mask)
            fig.add_scatter(
                x=xy[rows, 0],
                y=xy[rows, 1],
                mode="markers",
                marker=dict(
                    size=size,
                    color=[class_color(int(c)) for c in preds[rows]],
                    line=dict(width=ring, color="#222"),
                    opacity=0.85,
                ),
                text=[hover[r] for r in rows],
                hovertemplate="%{text}<extra></extra>",
                selectedpoints=[k for k, r in enumerate(rows) if index[r] in chosen] if chosen else None,
                unselected=dict(marker=dict(opacity=0.15)),
                showlegend=False,
                row=1,
                col=col,
            )
    for c, name in enumerate(class_names):  # the legend: one entry per predicted class
        fig.add_scatter(
            x=[None],
            y=[None],
            mode="markers",
            marker=dict(size=9, color=class_color(c), line=dict(width=1.5 if c in forget else 0, color="#222")),
            name=plot_text(name) + (" (forget)" if c in forget else ""),
            row=1,
            col=1,
        )
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    legend = dict(orientation="h", y=-0.02, yanchor="top", x=0)  # below the panels, clear of their titles
    return charts.style(fig, height=470, dragmode="select", margin=dict(l=10, r=10, t=40, b=10), legend=legend)


def compute_embedding(
    models: Mapping[str, Classifier], data: ImageData, forget: Sequence[int], method: str, seed: int
) -> Embedding:
    from unsir_core.common.device import DEVICE_LOCK
    from unsir_core.metrics.embedding import EmbeddingSettings, embed

    settings = EmbeddingSettings(method=method, seed=seed)
    with st.spinner(f"Projecting {settings.points} test images under {len(models)} models ({method.upper()})…"):

        def work() -> Embedding:
            with DEVICE_LOCK:
                return embed(models, data, forget, settings)

        return cached("embedding", models, settings, work)


def compute_cka(models: Mapping[str, Classifier], data: ImageData, unlearned: str, seed: int) -> dict[str, list]:
    from unsir_core.common.device import DEVICE_LOCK
    from unsir_core.metrics.cka import layer_cka
    from unsir_core.metrics.views import cka_pairs

    def work() -> dict[str, list]:
        with DEVICE_LOCK:
            result = layer_cka(models, cka_pairs(list(models), unlearned), data, seed)
        return {s: [d.to_dict() for d in layers] for s, layers in result.items()}

    return cached("cka", models, (unlearned, seed), work)


def view(
    models: Mapping[str, Classifier],
    data: ImageData,
    forget: Sequence[int],
    titles: Mapping[str, str],
    colors: Mapping[str, str],
    key: str,
    seed: int = 0,
    stored: Mapping[str, Any] | None = None,
) -> None:
    """The embedding panels, the sentence and the inspector for `models` (by stage, original first).

    `stored` is a run record's `extras["views"]`: its PCA embedding and CKA are shown without recomputing, and
    are all there is once the run's models were released."""
    from unsir_core.metrics.embedding import Embedding, sentence

    names = data.class_names
    busy = jobs.busy()
    method = st.radio(
        "Projection",
        ["pca", "umap"],
        format_func={"pca": "PCA (instant)", "umap": "UMAP (seeded; 15-40 s, minutes the first time)"}.get,
        horizontal=True,
        key=f"{key}-method",
        disabled=busy or not models,
        help="PCA: a linear projection, instant. UMAP keeps neighbourhoods and separates clusters better; the "
        "first UMAP in a server process also compiles umap-learn's numba code (8 minutes measured on the busy "
        "2-core CPU). Either way the sentence below is measured in the feature space, not in the picture.",
    )
    if method == "pca" and stored and set(stored["embedding"]["coords"]) == set(titles):
        emb = Embedding.from_dict(stored["embedding"])
    elif models:
        emb = compute_embedding(models, data, forget, method, seed)
    else:
        st.info("This run's models were released and its record holds no embedding: run it again to see it.")
        return
    chart_key = f"{key}-chart"
    selected = _selected(chart_key, trace_indices(emb, forget))
    st.plotly_chart(
        figure(emb, names, forget, titles, colors, selected),
        key=chart_key,
        on_select="rerun",
        selection_mode=("points", "box", "lasso"),
        width="stretch",
        config={"displaylogo": False},
    )
    phrases = {s: f"{t.lower()} model" for s, t in titles.items()}
    st.info(md(sentence(emb, forget, names, phrases)), icon=":material/travel_explore:")
    st.caption(md(emb.settings.describe()))
    opened = st.toggle(
        "Inspect one image",
        key=f"{key}-inspect",
        disabled=not models,
        help="Class probabilities, GradCAM and the membership score of one test image under each model. Opens by "
        "itself when points are selected above.",
    )
    if models and (opened or selected):
        inspector(models, data, forget, titles, colors, key, seed, selected)


def cka_view(
    models: Mapping[str, Classifier],
    data: ImageData,
    titles: Mapping[str, str],
    colors: Mapping[str, str],
    key: str,
    seed: int,
    unlearned: str = "repair",
    stored: Mapping[str, Any] | None = None,
) -> None:
    """Layer-wise CKA of the unlearned model against the others: the run record's (measured on the same models
    when the run was made), else computed from the models."""
    cka = stored.get("cka") if stored else None
    if not cka and unlearned in models and len(models) > 1:
        cka = compute_cka(models, data, unlearned, seed)
    if not cka:
        return
    st.subheader("How far did the representations move?")
    st.markdown(CKA_TEXT)
    names = {s: f"{titles[unlearned].lower()} vs {titles[s].lower()}" for s in cka}
    st.plotly_chart(
        charts.layer_cka(cka, names, {s: colors[s] for s in cka}),
        key=f"{key}-cka",
        width="stretch",
        config={"displaylogo": False},
    )


def _random_forget_image(key: str, data: ImageData, forget: Sequence[int]) -> None:
    """on_click: the class picker on a forget class, the position on one of its test images, at random."""
    cls = random.choice(list(forget))
    st.session_state[f"{key}-class"] = cls
    st.session_state[f"{key}-position"] = random.randrange(int((data.test_y == cls).sum()))
    st.session_state[f"{key}-source"] = "class"


def inspector(
    models: Mapping[str, Classifier],
    data: ImageData,
    forget: Sequence[int],
    titles: Mapping[str, str],
    colors: Mapping[str, str],
    key: str,
    seed: int,
    selected: Sequence[int],
) -> None:
    """One test image under every model: class probabilities, GradCAM of the true class, membership score."""
    names = data.class_names
    st.markdown("**Image inspector**")
    source = st.radio(
        "Image",
        ["selection", "class"],
        format_func={"selection": f"from the selection ({len(selected)})", "class": "by class and position"}.get,
        horizontal=True,
        key=f"{key}-source",
        help="Select points in the embedding above, or pick a class and the position of one of its test images.",
    )
    if source == "selection" and selected:
        index = st.selectbox(
            "Selected test image",
            selected,
            format_func=lambda i: f"test image {i} ({names[int(data.test_y[i])]})",
            key=f"{key}-picked",
        )
    else:
        if source == "selection":
            st.caption("Nothing selected: pick an image by class and position below.")
        class_col, pos_col, button_col = st.columns([2, 2, 2], vertical_alignment="bottom")
        cls = class_col.selectbox(
            "Class", range(len(names)), format_func=lambda c: names[c], index=forget[0], key=f"{key}-class"
        )
        of_class = (data.test_y == cls).nonzero().flatten().cpu()
        position = pos_col.number_input(
            f"Position among its {len(of_class)} test images", 0, len(of_class) - 1, 0, key=f"{key}-position"
        )
        button_col.button(
            "Random forget-class image",
            icon=":material/casino:",
            key=f"{key}-random",
            on_click=_random_forget_image,
            args=(key, data, forget),
        )
        index = int(of_class[min(int(position), len(of_class) - 1)])
    _inspect(models, data, forget, titles, colors, key, seed, int(index))


def _inspect(
    models: Mapping[str, Classifier],
    data: ImageData,
    forget: Sequence[int],
    titles: Mapping[str, str],
    colors: Mapping[str, str],
    key: str,
    seed: int,
    index: int,
) -> None:
    from unsir_core.common.device import DEVICE_LOCK
    from unsir_core.explain import heatmaps, overlay
    from unsir_core.metrics.evaluate import predict_logits
    from unsir_core.metrics.privacy import fit_attack, member_score

    names = data.class_names
    x, y = data.test_x[index : index + 1], data.test_y[index : index + 1]
    label = int(y[0])

    def attack(model: Classifier) -> Any:  # fitted once per model and seed, as Results' audit fits it
        return cached("attack", {"model": model}, seed, lambda: fit_attack(model, data, forget, seed=seed)[0])

    def work() -> dict[str, Any]:
        with DEVICE_LOCK:
            return {
                s: {
                    "probs": predict_logits(m, x).softmax(1)[0].cpu().tolist(),
                    "cam": heatmaps(m, x, [label])[0],
                    "member": float(member_score(attack(m), m, x, y, "entropy")[0]),
                }
                for s, m in models.items()
            }

    found = cached("inspect", models, (index, seed), work)
    frame = FORGET if label in forget else RETAIN
    cols = st.columns(1 + len(models))
    cols[0].image(
        images.framed(images.upscale(images.to_rgb(x[0]), 160), frame),
        width=168,
        caption=f"test image {index}: {md(names[label])} ({'forget' if label in forget else 'retain'} class)",
    )
    for col, (stage, r) in zip(cols[1:], found.items()):
        pred = int(np.argmax(r["probs"]))
        col.image(
            images.framed(images.upscale(overlay(x[0], r["cam"]), 160), colors[stage]),
            width=168,
            caption=f"{md(titles[stage])}: predicts {md(names[pred])} ({r['probs'][pred]:.0%}); GradCAM of "
            f"{md(names[label])}; membership score {r['member']:.2f}",
        )
    st.plotly_chart(
        charts.class_panels(
            {titles[s]: [p * 100 for p in r["probs"]] for s, r in found.items()},
            names,
            forget,
            "class probability (%)",
            105,
            height=280,
        ),
        key=f"{key}-probs",
        width="stretch",
        config={"displaylogo": False},
    )
    st.caption(
        "Membership score: the probability the entropy attack (fitted as on Results: 500 retain-class training "
        "images against 500 test images, the run's seed) gives that this image was training data. A test image "
        "never was; a high score means the model treats it like a training image."
    )


def results_section(record: RunRecord) -> None:
    """The Results page's section, after the weight distance: layer-wise CKA beside it, then the embedding of the
    run's original, unlearned and retrained models with the inspector."""
    data = loaders.data(record.setup.dataset)
    models = {s: m for s, m in record.models().items() if s in SHOWN}
    stored = record.report.get("extras", {}).get("views")
    shown = [s for s in SHOWN if s in models] or list((stored or {}).get("embedding", {}).get("coords", {}))
    held = {s: models[s] for s in shown if s in models}
    titles, colors = {s: stage_title(s) for s in shown}, {s: stage_color(s) for s in shown}
    seed = record.setup.config.seed
    cka_view(held, data, {**titles, "repair": stage_title("repair")}, colors, "results-views", seed, stored=stored)
    st.subheader("Where did the forget class go in feature space?")
    st.markdown(EXPLAIN)
    view(held, data, record.forget, titles, colors, "results-views", seed, stored=stored)


def compare_section(result: Comparison, data: ImageData, seed: int) -> None:
    """Compare's section: the original, one method's result (chosen here) and the retrained model."""
    from .compare_charts import color

    methods = [r for r in result.rows if r.method in result.models and r.method not in ("original", "retrain")]
    if "original" not in result.models or not methods:
        return
    st.subheader("Inside the models: one method against the original and the retrained model")
    titles = {r.method: r.title for r in result.rows}
    method = st.selectbox(
        "Method shown as the unlearned model",
        [r.method for r in methods],
        format_func=titles.get,
        key="cmp-views-shown",
        help="The embedding shows the original, this method's result and the retrained model side by side.",
    )
    shown = [s for s in ("original", method, "retrain") if s in result.models]
    models, colors = {s: result.models[s] for s in shown}, {s: color(s) for s in shown}
    cka_view(models, data, titles, colors, "cmp-views", seed, unlearned=method)
    st.subheader("Where did the forget class go in feature space?")
    st.markdown(EXPLAIN)
    view(models, data, list(result.forget), {s: titles[s] for s in shown}, colors, "cmp-views", seed)
