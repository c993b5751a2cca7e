"""Sequential unlearning in the dashboard: forget more from a run's model, go back to the true original, label a
run's baseline, draw the chain.

A chained run compares three models besides the retrained one: the true **Original** (before any
request), the **Starting model** (the previous request's result, which already forgot some classes)
and the **Unlearned** model. The timeline follows every forgotten class and the retain accuracy
across the requests (paper Fig. 5).
"""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from unsir_core.checkpoints.lineage import chain, timeline
from unsir_core.common.errors import CheckpointError, UnsirError
from unsir_core.common.escaping import md, plot_text
from unsir_core.common.numbers import pct
from unsir_core.report.summary import join

from . import jobs, loaders, nav, state
from .charts import style
from .palette import RETAIN
from .runs import RunRecord
from .setup import Setup

FORGET_SHADES = ("#E4572E", "#B03A2E", "#F39C12", "#CB4335", "#DC7633", "#922B21")  # one per forgotten class


def forget_more(record: RunRecord, key: str) -> None:
    """The "Forget more from this model" button: the next request of the chain, on the Forget classes page."""
    names = record.class_names
    left = len(names) - len(record.report["forgotten_total"])
    degraded = bool(record.report.get("degraded"))
    if st.button(
        "Forget more from this model",
        key=key,
        icon=":material/playlist_add:",
        disabled=jobs.busy() or left < 2 or degraded,
        help=f"Start a new request from run {record.id}'s unlearned model (sequential unlearning): choose "
        "more classes to forget; the ones already forgotten stay forgotten and cannot be chosen again."
        + (" Only one class is left: nothing more can be forgotten." if left < 2 else "")
        + (" Not offered: the collapse guard marked this run degraded." if degraded else ""),
    ):
        state.set_setup(record.setup.then_forget_more())
        state.notify(
            "info",
            f"New request from run {record.id}'s unlearned model, which already forgot "
            f"{join(record.report['forgotten_total'])}: choose the classes to forget next.",
        )
        st.switch_page(nav.NOISE.path)


def away_from_original(setup: Setup) -> bool:
    """Whether the setup starts from something other than a true original: a chain of earlier requests, or a
    stored model that already forgot classes."""
    if setup.chain:
        return True
    try:
        return bool(loaders.model_info(setup).forgotten)
    except UnsirError:  # no usable model: the sidebar and the pages say so
        return False


def original_of(setup: Setup) -> Setup:
    """The setup on its true original model: no earlier requests; for a model that forgot classes, the original
    its lineage's weights digest finds among the shipped and stored models (`find_root`). CheckpointError when
    that original is not here."""
    from unsir_core.algorithm.request import find_root  # torch: not on the first page, which shows this button

    info, path = loaders.model_info(setup), loaders.model_path(setup)
    root = find_root(info, path) if info.forgotten else path
    if root is None:
        raise CheckpointError(
            f"The original of {path.stem} (before it forgot {', '.join(info.class_names[c] for c in info.forgotten)}) "
            "is neither shipped nor in the model store: choose or import it on the Model and data page."
        )
    return setup.with_value("model", root.name if info.forgotten else setup.model)


def back_to_original(key: str) -> None:
    """The "Back to the original" button (shown only away from it): one click to the true original model."""
    if away_from_original(state.setup()):
        st.button(
            "Back to the original",
            key=key,
            icon=":material/restart_alt:",
            disabled=jobs.busy(),
            on_click=_go_back,
            help="Start the next request from the true original model again (before any class was forgotten); "
            "this session's runs stay on the Runs page.",
        )


def _go_back() -> None:
    try:
        new = original_of(state.setup())
    except UnsirError as err:
        state.notify("error", str(err))
        return
    state.set_setup(new)
    name = loaders.model_path(new).stem
    state.notify("success", f"Back to the original model {name}: nothing is forgotten, the next request starts here.")


def baseline_caption(record: RunRecord) -> None:
    """For a chained run (a "Forget more" request, or one on a stored unlearned checkpoint): what "Original" and
    "Starting model" are, with the starting model's A_Df per class."""
    if "start" not in record.metrics:
        return
    names, start = record.class_names, record.metrics["start"]
    per_class = ", ".join(
        f"{md(c)} {pct(start['per_class_acc'][names.index(c)])}" for c in record.report["forgotten_total"]
    )
    start_is = f"run {record.parent}'s unlearned model" if record.parent is not None else md(record.model_name)
    unlearned_checkpoint = any(c not in record.setup.forgotten_before for c in record.already_forgotten)
    original = (
        "found among the stored and shipped models by the digest of its weights"
        if unlearned_checkpoint
        else md(record.model_name)
    )
    st.caption(
        f"**Starting model** (already forgot {md(join(record.already_forgotten))}): {start_is}; its test "
        f"accuracy on the forget classes is {per_class}. **Original**: the true original ({original}) before "
        "any request; every change above is measured against it."
    )


def timeline_figure(record: RunRecord) -> go.Figure:
    """A_Df of every forgotten class and A_Dr after each request of the chain, with the cumulative time."""
    points = timeline(chain(record.report), record.class_names)
    x = [f"{plot_text(p['label'])}<br>{p['time_s']:.1f} s" for p in points]
    fig = go.Figure()
    for i, c in enumerate(record.report["forgotten_total"]):
        fig.add_scatter(
            x=x,
            y=[p["forget"][c] for p in points],
            name=f"A_Df {plot_text(c)}",
            mode="lines+markers",
            line=dict(color=FORGET_SHADES[i % len(FORGET_SHADES)], width=3),
        )
    fig.add_scatter(
        x=x,
        y=[p["retain_acc"] for p in points],
        name="A_Dr (classes retained)",
        mode="lines+markers",
        line=dict(color=RETAIN, width=3, dash="dot"),
    )
    return style(
        fig,
        height=340,
        title=dict(text="The chain of requests: accuracy after each one", x=0),
        margin=dict(l=10, r=10, t=80, b=10),
        xaxis_title="request (cumulative unlearning time)",
        yaxis=dict(title="test accuracy (%)", range=[-3, 105]),
    )


def timeline_section(record: RunRecord) -> None:
    """The chain's timeline and table, when the run is a later request of a chain."""
    requests = chain(record.report)
    if len(requests) < 2:
        return
    st.subheader("The chain of requests")
    st.markdown(
        f"Run {record.id} is request {len(requests)} of a chain (paper Fig. 5): each request started from the "
        "previous one's unlearned model. Each forgotten class should stay near 0 while the retained classes "
        "keep their accuracy."
    )
    st.plotly_chart(
        timeline_figure(record), width="stretch", key=f"chain-timeline-{record.id}", config={"displaylogo": False}
    )
    times = ", ".join(f"{r['unlearn_s']:.1f} s" for r in requests)
    st.caption(
        f"Total unlearning time: {sum(r['unlearn_s'] for r in requests):.1f} s over {len(requests)} requests ({times})."
    )
