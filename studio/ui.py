"""Pieces every page uses: the page header with its notices, the sidebar, guards, cards and pickers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import plotly.graph_objects as go
import streamlit as st

from unsir_core.common.errors import CheckpointError, UnsirError
from unsir_core.common.escaping import md
from unsir_core.common.numbers import pct, pp
from unsir_core.data import DATASETS
from unsir_core.models import get_spec

from . import chain, handout, jobs, loaders, nav, runs, serving, state
from .palette import FORGET, stage_title
from .runs import RunRecord
from .setup import KNOBS, Setup

if TYPE_CHECKING:
    from unsir_core.data import ImageData
    from unsir_core.models.classifier import Classifier

STAGE_HELP = {
    "original": "true original model, before any unlearning request",
    "start": "starting model of this request (the previous request's unlearned model)",
    "impair": "model after the impair step",
    "repair": "unlearned model (after impair and repair)",
    "retrain": "retrained model (trained from scratch without the forget classes: the gold standard)",
}
NOTICE_STYLES = {"success": st.success, "info": st.info, "warning": st.warning, "error": st.error}


def header(page: nav.PageDef, intro: str) -> None:
    """Title, the 2-3 sentence explanation of the step, and any queued notices."""
    st.title(page.title)
    st.markdown(intro)
    for kind, text in state.pop_notices():
        NOTICE_STYLES[kind](md(text))


def link(page: nav.PageDef, label: str | None = None) -> None:
    st.page_link(page.path, label=label or page.title, icon=page.icon)


def require_model() -> tuple[ImageData, Classifier]:
    """The setup's data set and original model; otherwise the reason, a way out, and the page stops."""
    setup = state.setup()
    try:
        data, model = loaders.data(setup.dataset), loaders.model(setup)
        _check_chain(setup, data)
        state.apply_recipe(runs.recipe(state.setup(), data, model).config)
        return data, model
    except UnsirError as err:
        st.error(md(err))
        link(nav.MODEL, "Choose, upload or train a model")
        st.stop()


def _check_chain(setup: Setup, data: ImageData) -> None:
    """A link's earlier requests name classes only the data set can check: unknown ones drop the chain, with a
    warning (the URL parser cannot know the classes)."""
    try:
        data.resolve_classes(setup.forgotten_before)
    except UnsirError as err:
        state.set_setup(replace(setup, chain=()))
        st.warning(f"Ignored the earlier requests in the link ({err}) This request starts from the checkpoint.")


def require_forget(data: ImageData) -> list[int]:
    """The setup's forget classes as indices; otherwise what to do, and the page stops."""
    setup = state.setup()
    try:
        return data.forget_classes(setup.forget)
    except UnsirError as err:
        st.warning(md(err))
        link(nav.NOISE, "Choose the forget classes")
        st.stop()


def figure(fig: go.Figure, key: str | None = None) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def pick_run(key: str, need_models: bool = False) -> RunRecord | None:
    """A run of this session (newest first); None, with a pointer to where runs are made, when there is none."""
    history = runs.history()
    if need_models:
        history = [r for r in history if r.unsir is not None]
    if not history:
        handout.shared_box(f"{key}-shared")
        st.info("No run yet in this session: run UNSIR first.")
        link(nav.UNLEARN, "Go to Impair and repair")
        link(nav.OVERVIEW, "…or run the guided demo")
        return None
    options = {r.id: r for r in reversed(history)}
    help_text = "Every completed run of this session. " + (
        f"Only the newest {runs.KEEP_MODELS} runs keep their models; older ones keep their metrics."
        if need_models
        else ""
    )
    chosen = st.selectbox(
        "Run", list(options), format_func=lambda i: options[i].title, key=key, help=help_text, disabled=jobs.busy()
    )
    return options[chosen]


def repair_check(record: RunRecord) -> None:
    """The self-check's verdict: red when the collapse guard fired, a caption otherwise."""
    check = record.report.get("repair_check")
    if check is None:
        return
    if record.report["degraded"]:
        st.error(f"**Degraded: not a finished model.** {check['message']}", icon=":material/report:")
    else:
        extra = f", {check['extra_epochs']} of them added at half the rates" if check["extra_epochs"] else ""
        gap = f"; {check['gap']:.1f} points still missing" if check.get("gap") else ""
        st.caption(
            f"Repair checked itself on {check['held_out']} held-out retain-class training images (never a "
            f"forget-class image): {check['epochs']} epoch(s){extra}{gap}. {check['message']}"
            if check["held_out"]
            else check["message"]
        )


def metric_cards(record: RunRecord) -> None:
    """A_Df and A_Dr of every stage as metric cards, with the change from the original, and the self-check."""
    repair_check(record)
    metrics = record.metrics
    for key, name, better in (("forget_acc", "A_Df", "inverse"), ("retain_acc", "A_Dr", "normal")):
        base = metrics["original"][key]
        cols = st.columns(len(metrics))
        for col, (stage, ev) in zip(cols, metrics.items()):
            delta = None if stage == "original" else pp(ev[key] - base)
            title = stage_title(stage) + (
                f", already forgot {md(', '.join(record.already_forgotten))}" if stage == "start" else ""
            )
            col.metric(
                f"{name} · {title}",
                pct(ev[key]),
                delta,
                delta_color=better,
                border=True,
                help=f"{'Forget' if key == 'forget_acc' else 'Retain'}-class test accuracy of the "
                f"{STAGE_HELP[stage]}; the change is against the original model.",
            )
    impair = metrics.get("impair")
    if impair is not None and impair["forget_acc"] >= metrics["original"]["forget_acc"]:
        st.caption(
            f"After impair A_Df went up, not down: the damaged network, just trained to give the noise the "
            f"forget label, gives it to many real images too (A_Dr {pct(impair['retain_acc'])}). Repair, on "
            "retain images alone, takes that away."
        )


def sidebar() -> None:
    """The setup at a glance on every page: data set, model, forget classes, device and the current run."""
    model = _model_row()
    setup = state.setup()
    forget = ", ".join(f"<b style='color:{FORGET}'>{md(c)}</b>" for c in setup.forget) or "<i>none chosen</i>"
    if setup.chain:
        forget += f"<br><small>after {md(', '.join(setup.forgotten_before))} (already forgotten)</small>"
    dataset = (
        DATASETS[setup.dataset].title
        if setup.dataset in DATASETS
        else f"{md(data_label(setup.dataset))} <small>(image folder)</small>"
    )
    job = jobs.active()
    last = runs.latest()
    if job is not None:
        status = f"<b>Running:</b> {md(job.title)}"
    elif last is not None:
        m = last.metrics["repair"]
        status = (
            f"{len(runs.history())} run(s) done. Last: run {last.id}, A_Df {pct(m['forget_acc'])}, "
            f"A_Dr {pct(m['retain_acc'])}"
        )
    else:
        status = "idle: no run yet"
    rows = (
        ("Data set", dataset),
        ("Model", model),
        ("Forget", forget),
        ("Device", loaders.device_name()),
        ("Run", status),
    )
    with st.sidebar:
        st.markdown("##### Current setup")
        st.markdown(
            "".join(
                f"<div style='margin-bottom:.45rem'><small style='opacity:.7'>{k}</small><br>{v}</div>" for k, v in rows
            ),
            unsafe_allow_html=True,
        )
        chain.back_to_original("sidebar-back-to-original")
        st.caption("The address bar holds this setup: share the link to reproduce it.")
        st.caption(f"Served to {serving.current()}.")


def _model_row() -> str:
    """The sidebar's model: the setup's checkpoint when it can be used; a chosen one that cannot (a link's, a file
    gone or of another architecture) gives way to the default, with a warning; with no checkpoint at all for the
    data set and architecture, what to do."""
    setup = state.setup()
    try:
        info = loaders.model_info(setup)
        if info.arch != setup.arch or info.dataset != setup.dataset:
            raise CheckpointError(
                f"{setup.model} is a {get_spec(info.arch).title} checkpoint for {info.dataset}, not "
                f"{get_spec(setup.arch).title} for {setup.dataset}."
            )
    except UnsirError as err:
        if setup.model:
            state.set_setup(setup.with_value("model", ""))
            state.notify("warning", f"{err} Using the default model of this data set and architecture instead.")
            return _model_row()
        return (
            f"<span style='color:{FORGET}'>no {get_spec(setup.arch).title} model for this data set yet</span>"
            "<br><small>train or upload one on Model and data</small>"
        )
    acc = f" · {info.test_acc:.1f}% test acc." if info.test_acc is not None else ""
    return f"{md(loaders.model_path(setup).stem)}<br><small>{get_spec(info.arch).title}{acc}</small>"


def data_label(dataset: str) -> str:
    """A data set in a few words: the folder's own name for `folder:PATH` (an uploaded set: the zip's name)."""
    return Path(dataset.split(":", 1)[1]).name if dataset.startswith("folder:") else dataset


def knob(name: str) -> None:
    """A number input for the numeric setting `name`, bound to the setup, with its label, help and range."""
    spec = KNOBS[name]
    kind = type(state.setup().get(name))
    st.number_input(
        spec.label,
        min_value=kind(spec.min),
        max_value=kind(spec.max),
        step=kind(spec.step),
        format="%d" if kind is int else "%g",
        help=spec.help,
        disabled=jobs.busy(),
        **state.bind(name),
    )
