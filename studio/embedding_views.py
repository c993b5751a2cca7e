"""Where the forget class went, in the dashboard: the original, unlearned and retrained models' penultimate
features in one shared 2-D space side by side (selecting points in one panel selects the same images in the
others), the computed sentence, the layer-wise CKA, and the image inspector (each model's class
probabilities, GradCAM and membership-attack score for one test image).

The numbers come from `unsir_core.metrics.views` (embedding and CKA, computed when a page first asks and cached
in the engine per model weights and sample, for every session) and `privacy`; the inspector's results are cached
in the session per set of models (by the digest of their weights). The Results page passes a run's models and
keeps their PCA embedding and CKA in the run record (its report and JSON carry them); Compare passes the
original, one method's result and the retrained model.
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
    from unsir_core.metrics.spread import ModelSummary, RetrainSpread
    from unsir_core.models.classifier import Classifier

CACHE = "views:cache"  # session_state: {(what, model digests, settings): result} of the inspector
CACHE_SIZE = 12  # results kept per session (one image's probabilities and GradCAM per model: a few KB)
MODEBAR_CLEARANCE = 64  # px above the panels: the modebar's band, then the panel titles under it
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

SPREAD_TEXT = (
    "A retrained model is one draw: trained again with another seed, it lands at another A_Dr and sends the "
    "forgotten class's images elsewhere. The shaded bands are the minimum to the maximum over retrained references "
    "of several seeds (the original's settings, only the seed changed), the dots each seed, the diamond the "
    "unlearned model: inside a band is within what retraining itself varies."
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
    # a top margin of MODEBAR_CLEARANCE px: plotly's modebar (top right, about 30 px high) sits above the titles
    margin = dict(l=10, r=10, t=MODEBAR_CLEARANCE, b=10)
    return charts.style(fig, height=470 + MODEBAR_CLEARANCE - 40, dragmode="select", margin=margin, legend=legend)


def compute_embedding(
    models: Mapping[str, Classifier], data: ImageData, forget: Sequence[int], method: str, seed: int
) -> Embedding:
    """The embedding of `models`, from the engine's cache (per model weights and sample) or computed now."""
    from unsir_core.common.device import DEVICE_LOCK
    from unsir_core.metrics.embedding import EmbeddingSettings
    from unsir_core.metrics.views import embedding_of

    settings = EmbeddingSettings(method=method, seed=seed)
    with st.spinner(f"Projecting {settings.points} test images under {len(models)} models ({method.upper()})…"):
        with DEVICE_LOCK:
            return embedding_of(models, data, forget, settings)


def compute_cka(models: Mapping[str, Classifier], data: ImageData, unlearned: str, seed: int) -> dict[str, list]:
    """Layer-wise CKA of `unlearned` against the others, from the engine's cache or computed now."""
    from unsir_core.common.device import DEVICE_LOCK
    from unsir_core.metrics.views import layer_cka

    with DEVICE_LOCK:
        return layer_cka(models, data, unlearned, seed)


def seed_references(original: Classifier, forget: Sequence[int]) -> dict[int, Classifier]:
    """The stored references of `original` without `forget` at its training settings for each of SPREAD_SEEDS
    (only the seed changed), by seed; the seeds with none stored are left out."""
    from unsir_core.checkpoints.references import ReferenceKey, find
    from unsir_core.metrics.spread import SPREAD_SEEDS
    from unsir_core.training.train import gold_standard_config

    found = {}
    for seed in SPREAD_SEEDS:
        path = find(ReferenceKey.for_original(original.info, forget, gold_standard_config(original.info, seed)))
        if path is not None:
            found[seed] = loaders.load_checkpoint(path)
    return found


def record_views(record: RunRecord) -> dict[str, Any] | None:
    """A run's views (PCA embedding and CKA, as `metrics.views.run_views`): its record's, else computed now from
    its models (cached per weights and sample) and kept in the record, so its report and JSON carry them; None
    when the record has none and its models were released."""
    from unsir_core.common.device import DEVICE_LOCK
    from unsir_core.metrics.embedding import EmbeddingSettings
    from unsir_core.metrics.spread import retrain_spread
    from unsir_core.metrics.views import run_views

    extras = record.report.get("extras", {})
    if "views" in extras:
        return extras["views"]
    models = record.models()
    if "original" not in models or "repair" not in models:
        return None
    data = loaders.data(record.setup.dataset)
    seed = record.setup.config.seed
    with DEVICE_LOCK:  # no st.* call here: the report's download calls this outside the page script
        views = run_views(models, data, record.forget, seed)
        references = seed_references(models["original"], record.forget)
        if len(references) > 1:
            spread = retrain_spread(references, data, record.forget, EmbeddingSettings(seed=seed))
            views = {**views, "spread": spread.to_dict()}
    record.report = {**record.report, "extras": {**extras, "views": views}}
    return views


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
        format_func={"pca": "PCA (instant)", "umap": "UMAP (seeded; 10-40 s)"}.get,
        horizontal=True,
        key=f"{key}-method",
        disabled=busy or not models,
        help="PCA: a linear projection, instant. UMAP keeps neighbourhoods and separates clusters better; the "
        "very first UMAP on a machine also compiles umap-learn's numba code, once: it is kept on disk (3 minutes "
        "measured on the busy 2-core CPU). Either way the sentence below is measured in the feature space, not in "
        "the picture.",
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


def spread_figure(
    spread: RetrainSpread, unlearned: ModelSummary, class_names: Sequence[str], colors: Mapping[str, str]
) -> go.Figure:
    """Three summaries, each with the retrained seeds' band (min-max, shaded), each seed's value (dots) and the
    unlearned model's (a diamond): A_Df and A_Dr; the forget-class prediction distribution; where the forget-class
    points sit in the embedding."""
    from unsir_core.metrics.embedding import APART
    from unsir_core.metrics.spread import Band

    places = sorted(set(spread.where) | set(unlearned.where), key=lambda c: (c == APART, c))
    panels = [
        (["A_Df", "A_Dr"], [spread.forget_acc, spread.retain_acc], lambda m: [m.forget_acc, m.retain_acc]),
        (list(class_names), spread.distribution, lambda m: m.distribution),
        (
            ["apart" if c == APART else class_names[c] for c in places],
            [spread.where.get(c, Band(0.0, 0.0)) for c in places],
            lambda m: [m.where.get(c, 0.0) for c in places],
        ),
    ]
    fig = make_subplots(
        rows=1,
        cols=3,
        column_widths=[0.16, 0.5, 0.34],
        horizontal_spacing=0.05,
        subplot_titles=["accuracy (%)", "forget-class images predicted as (%)", "forget-class images inside (%)"],
    )
    seeds = ", ".join(map(str, spread.seeds))
    for col, (labels, bands, values) in enumerate(panels, start=1):
        x = [plot_text(v) for v in labels]
        first = col == 1
        fig.add_bar(
            x=x,
            y=[b.high - b.low for b in bands],
            base=[b.low for b in bands],
            marker=dict(color=colors["retrain"], opacity=0.3, line=dict(width=1, color=colors["retrain"])),
            name=f"retrained, seeds {seeds}: min-max",
            legendgroup="band",
            showlegend=first,
            customdata=[b.high for b in bands],
            hovertemplate="%{x}: retrained %{base:.1f} to %{customdata:.1f}%<extra></extra>",
            row=1,
            col=col,
        )
        for k, seed_summary in enumerate(spread.per_seed):
            fig.add_scatter(
                x=x,
                y=values(seed_summary),
                mode="markers",
                marker=dict(size=6, color=colors["retrain"]),
                name="each retrained seed",
                legendgroup="seeds",
                showlegend=first and k == 0,
                hovertemplate=f"seed {spread.seeds[k]}: " + "%{y:.1f}%<extra></extra>",
                row=1,
                col=col,
            )
        fig.add_scatter(
            x=x,
            y=values(unlearned),
            mode="markers",
            marker=dict(size=12, symbol="diamond", color=colors["repair"], line=dict(width=1, color="#222")),
            name="unlearned",
            legendgroup="unlearned",
            showlegend=first,
            hovertemplate="unlearned: %{y:.1f}%<extra></extra>",
            row=1,
            col=col,
        )
    fig.update_yaxes(range=[-3, 105])
    legend = dict(orientation="h", y=-0.25, yanchor="top", x=0)
    return charts.style(
        fig, height=360, margin=dict(l=40, r=10, t=MODEBAR_CLEARANCE, b=10), legend=legend, barmode="overlay"
    )


def spread_view(views: Mapping[str, Any], record: RunRecord, key: str) -> None:
    """The retrained model's own spread over seeds beside the unlearned model, and the sentence it supports."""
    from unsir_core.metrics.spread import RetrainSpread, summary, within

    if "spread" not in views or "repair" not in record.metrics:
        return
    spread = RetrainSpread.from_dict(views["spread"])
    unlearned = summary(record.metrics["repair"], views["embedding"]["where"]["repair"])
    st.subheader("Within what retraining itself varies?")
    st.markdown(SPREAD_TEXT)
    colors = {s: stage_color(s) for s in ("repair", "retrain")}
    st.plotly_chart(
        spread_figure(spread, unlearned, record.class_names, colors),
        key=f"{key}-spread",
        width="stretch",
        config={"displaylogo": False},
    )
    st.info(md(within(spread, unlearned, record.class_names)), icon=":material/stacked_line_chart:")


def results_section(record: RunRecord) -> None:
    """The Results page's section, after the weight distance: layer-wise CKA beside it, then the embedding of the
    run's original, unlearned and retrained models with the inspector."""
    data = loaders.data(record.setup.dataset)
    models = {s: m for s, m in record.models().items() if s in SHOWN}
    with st.spinner("Placing 2,000 test images under the run's models (PCA) and comparing their layers…"):
        stored = record_views(record)
    shown = [s for s in SHOWN if s in models] or list((stored or {}).get("embedding", {}).get("coords", {}))
    held = {s: models[s] for s in shown if s in models}
    titles, colors = {s: stage_title(s) for s in shown}, {s: stage_color(s) for s in shown}
    seed = record.setup.config.seed
    cka_view(held, data, {**titles, "repair": stage_title("repair")}, colors, "results-views", seed, stored=stored)
    st.subheader("Where did the forget class go in feature space?")
    st.markdown(EXPLAIN)
    view(held, data, record.forget, titles, colors, "results-views", seed, stored=stored)
    if stored:
        spread_view(stored, record, "results-views")


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
