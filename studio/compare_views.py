"""The Compare page's views: choosing methods and their settings, the plan with its time estimate, and the
results (table, definitions, charts, downloads).

Every method starts from the session: UNSIR from the session's UNSIR settings, every seed from the
session's seed, the reference from the original's own training settings. Each setting's help text ends
with the value that will actually run, resolved for this model (a preset's value, the original's epochs).
"""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

import pandas as pd
import streamlit as st

from unsir_core.common import strict_json
from unsir_core.common.escaping import md
from unsir_core.common.numbers import rounded
from unsir_core.data import ImageData
from unsir_core.experiments.compare_plan import plan
from unsir_core.experiments.compare_table import COLUMNS, COMPACT, Comparison
from unsir_core.methods import METHODS, Request, SettingField, UnsirSettings
from unsir_core.metrics.audits import MetricSettings
from unsir_core.metrics.privacy import CHANCE, MIA_VARIANTS
from unsir_core.metrics.retrain_privacy import DEFINITION as PRIVACY_DEFINITION
from unsir_core.metrics.verdict import PRIVACY_BLIND_SPOT
from unsir_core.models.classifier import Classifier

from . import jobs, loaders, ui
from .compare_charts import all_figures, figures_html, layer_chart
from .setup import SMALLEST, Setup

TEXT = ("title", "status", "reads_forget", "relearn_epochs")


# ------------------------------------------------------------------ settings


def widget_key(method: str, name: str) -> str:
    return f"cmp:{method}:{name}"


def start_settings(method: str, setup: Setup) -> Any:
    """The settings a method starts from in this session: UNSIR's are the session's, every seed is the session's."""
    if method == "unsir":
        return UnsirSettings.from_config(setup.preset, setup.config)
    return METHODS[method].settings({"seed": setup.config.seed})


def chosen_settings(method: str, setup: Setup) -> Any:
    """The start settings with the page's widgets applied."""
    start = asdict(start_settings(method, setup))
    return METHODS[method].settings(
        {f.name: st.session_state.get(widget_key(method, f.name), start[f.name]) for f in METHODS[method].fields()}
    )


def changed(method: str, setup: Setup) -> dict[str, Any]:
    """The fields whose widgets differ from the start settings."""
    start, now = asdict(start_settings(method, setup)), asdict(chosen_settings(method, setup))
    return {k: v for k, v in now.items() if v != start[k]}


def _shown(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def setting_widget(method: str, f: SettingField, default: Any, runs: Any, busy: bool) -> None:
    key = widget_key(method, f.name)
    label = f.name.replace("_", " ")
    help_text = f"{f.help} Runs with: {_shown(runs)}." if f.help else f"Runs with: {_shown(runs)}."
    empty = "as the original" if method == "retrain" else "preset"
    if f.choices:
        st.selectbox(
            label, list(f.choices), index=list(f.choices).index(default), key=key, help=help_text, disabled=busy
        )
    elif f.kind is bool:
        st.checkbox(label, value=default, key=key, help=help_text, disabled=busy)
    elif f.kind is int:  # the range of the field's metadata, as the engine checks it
        st.number_input(
            label,
            min_value=int(f.lo or 0),
            max_value=None if f.hi is None else int(f.hi),
            value=default,
            step=1,
            key=key,
            help=help_text,
            disabled=busy,
            placeholder=f"{empty}: {_shown(runs)}",
        )
    elif f.kind is float:
        step = 10 ** math.floor(math.log10(default if default else runs)) if (default or runs) else 0.1
        st.number_input(
            label,
            min_value=SMALLEST if f.low_open else float(f.lo or 0),
            max_value=None if f.hi is None else float(f.hi),
            value=default,
            step=float(step),
            format="%g",
            key=key,
            help=help_text,
            disabled=busy,
            placeholder=f"{empty}: {_shown(runs)}",
        )
    else:
        st.text_input(label, value=default, key=key, help=help_text, disabled=busy)


def reset(method: str) -> None:
    for f in METHODS[method].fields():
        st.session_state.pop(widget_key(method, f.name), None)


def method_picker(busy: bool) -> list[str]:
    chosen = st.multiselect(
        "Methods to compare",
        list(METHODS),
        default=list(METHODS),
        key="cmp:methods",
        disabled=busy,
        format_func=lambda m: f"{METHODS[m].title}{'' if METHODS[m].reads_forget else ' (zero-glance)'}",
        help="Retraining runs first whatever the order: it is the reference of the distance columns.",
    )
    st.dataframe(
        [
            {
                "Method": m.title,
                "What it does": m.summary,
                "Reads D_f": "yes" if m.reads_forget else "no",
                "Source": m.paper,
            }
            for n, m in METHODS.items()
            if n in chosen
        ],
        hide_index=True,
        width="stretch",
    )
    return chosen


def settings_forms(chosen: list[str], setup: Setup, request: Request, busy: bool) -> None:
    st.markdown(
        "**Settings.** UNSIR starts from this session's settings (Impair and repair page), Retrain from the "
        "original model's own training settings, every method from the session's seed "
        f"({setup.config.seed}); the others from defaults tuned on Shapes-10 with the Small CNN (documented in "
        "`unsir_core/methods/`). Each help text ends with the value that will run."
    )
    for name in [*chosen, *(["retrain"] if "retrain" not in chosen else [])]:
        method = METHODS[name]
        start = asdict(start_settings(name, setup))
        runs = method.resolved(chosen_settings(name, setup), request)
        n_changed = len(changed(name, setup))
        title = f"{method.title} settings" + (" (the reference)" if name not in chosen else "")
        with st.expander(title + (f" · {n_changed} changed" if n_changed else "")):
            cols = st.columns(3)
            for i, f in enumerate(method.fields()):
                with cols[i % 3]:
                    setting_widget(name, f, start[f.name], runs.get(f.name, start[f.name]), busy)
            st.button(
                "Reset to the start settings", key=f"cmp:reset:{name}", on_click=reset, args=(name,), disabled=busy
            )


def measurement_settings(setup: Setup, busy: bool) -> tuple[MetricSettings, bool]:
    """The measurement settings (seeded with the session's seed, like Results' audits) and whether to train
    a reference when Retrain is not among the methods."""
    with st.expander("Measurement settings (the same for every method)"):
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.checkbox(
            "Measure relearn time",
            value=True,
            key="cmp:relearn",
            disabled=busy,
            help="The slowest metric: up to the cap of 500-sample fine-tuning epochs per method.",
        )
        c2.number_input(
            "Relearn cap (epochs)", 1, 100, MetricSettings().relearn_max_epochs, key="cmp:relearn-cap", disabled=busy
        )
        c3.number_input(
            "MIA samples",
            10,
            5000,
            MetricSettings().mia_samples,
            step=50,
            key="cmp:mia",
            disabled=busy,
            help="Members and non-members drawn for each membership-inference attack "
            "(the Results page uses the same number and seed, so both run the same attack).",
        )
        c4.checkbox(
            "Feature probe",
            value=True,
            key="cmp:probe",
            disabled=busy,
            help="A linear classifier on each model's penultimate features; a few seconds per method.",
        )
        c5.checkbox(
            "Use a retrained reference",
            value=True,
            key="cmp:train-ref",
            disabled=busy,
            help="Needed for the distances and the privacy score to retrain even when 'Retrain' is not "
            "among the methods; taken from the reference store when it holds one.",
        )
    ms = MetricSettings(
        relearn=st.session_state.get("cmp:relearn", True),
        relearn_max_epochs=int(st.session_state.get("cmp:relearn-cap", 10)),
        mia_samples=int(st.session_state.get("cmp:mia", MetricSettings().mia_samples)),
        probe=st.session_state.get("cmp:probe", True),
        seed=setup.config.seed,
    )
    return ms, st.session_state.get("cmp:train-ref", True)


def plan_view(
    chosen: list[str],
    settings: dict[str, dict],
    setup: Setup,
    model: Classifier,
    data: ImageData,
    ms: MetricSettings,
    train_reference: bool,
) -> None:
    """What will run, with the estimated time of each method on this device, before anything starts."""
    methods = chosen if "retrain" in chosen or not train_reference else ["retrain", *chosen]
    speed = loaders.training_speed(setup, model.info.details.get("train_config", {}).get("batch_size", 128))
    rows = plan(model, data, setup.forget, methods, settings, ms, speed)
    total = sum(r.seconds for r in rows)
    st.markdown(
        f"**Plan: {len(rows)} methods, about {jobs.format_seconds(total)} on {loaders.device_name()}** "
        f"(training images each method processes, at {speed:,.0f} images/s measured here in "
        f"{loaders.SPEED_BATCHES} timed steps, plus the measurements of its row)."
    )
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "Method": r.title,
                    "Training images": int(r.images),
                    "Estimated time": jobs.format_seconds(r.seconds),
                    "Note": r.note,
                }
                for r in rows
            ]
        ),
        hide_index=True,
        width="stretch",
        key="cmp:plan",
    )


# ------------------------------------------------------------------ results


def column_help(c) -> str:
    return c.help + {
        "lower": " Lower is better.",
        "higher": " Higher is better.",
        "retrain": " Closer to Retrain is better.",
    }.get(c.better, "")


def verdict_view(result: Comparison) -> None:
    """The comparison's verdict: the method closest to the retrained model overall and per question."""
    with st.container(border=True, key="cmp-verdict"):
        st.markdown("**Verdict: which method comes closest to the retrained model?**")
        st.markdown("\n".join(f"- {md(sentence)}" for sentence in result.verdict()))
        st.caption(
            "Closest, not lowest: the retrained model (trained without the forget classes) is the target on every "
            "measure, and a method that goes past it further than the original was is named as over-forgetting. "
            + md(next(c.help for c in COLUMNS if c.key == "tow"))
        )


def table(result: Comparison) -> None:
    """The table: the compact columns by default, all of them behind a toggle; figures rounded once
    (common.numbers), so the browser's formatting shows them as rounded everywhere else."""
    every = st.toggle(
        "All columns",
        value=False,
        key="cmp:all-columns",
        help=f"Off: the {len(COMPACT)} columns the verdict reads. On: all {len(COLUMNS)} measured columns.",
    )
    shown = [c for c in COLUMNS if every or c.key in COMPACT]
    frame = result.to_frame(headers=True)[[c.header for c in shown]]
    for c in shown:
        if c.key not in TEXT:
            frame[c.header] = [None if pd.isna(v) else rounded(v, c.digits) for v in frame[c.header]]
    if every:
        reads = next(c.header for c in COLUMNS if c.key == "reads_forget")
        frame[reads] = ["" if v is None else ("yes" if v else "no") for v in frame[reads]]
    formats = {
        c.header: st.column_config.NumberColumn(c.header, help=column_help(c), format=f"%.{c.digits}f")
        for c in shown
        if c.key not in TEXT
    }
    formats.update({c.header: st.column_config.Column(c.header, help=column_help(c)) for c in shown if c.key in TEXT})
    st.dataframe(frame, hide_index=True, width="stretch", column_config=formats, key="cmp:table")
    st.caption(
        "An empty cell was not computed (a metric switched off, or one that needs the retrained reference "
        "without one); it is never a zero."
    )


def privacy_notes(result: Comparison) -> None:
    with st.container(border=True):
        st.markdown("**How the privacy columns are measured** (papers disagree on the variant, so both are shown):")
        for variant, text in MIA_VARIANTS.items():
            st.markdown(
                f"- **MIA {variant}**: {text} The column is the % called *member*; next to it, the attack's "
                f"own accuracy on held-out members and non-members (chance {CHANCE:.0f}%)."
            )
        attacks = [
            (f"{r.title} ({v})", m["at_chance"])
            for r in result.rows
            if r.ok
            for v, m in r.details.get("mia", {}).items()
        ]
        at_chance = [name for name, chance in attacks if chance]
        if at_chance:
            which = (
                f"every attack on every model ({len(attacks)})"
                if len(at_chance) == len(attacks)
                else ", ".join(at_chance)
            )
            st.info(
                f"At chance, so the member rate carries no information: {which}. The attack's 95% interval on "
                "held-out data includes 50%: it cannot tell members from non-members here, so a higher or lower "
                "member rate is not a privacy finding.",
                icon=":material/info:",
            )
        st.markdown("- **Privacy vs retrain**: " + PRIVACY_DEFINITION + " " + md(PRIVACY_BLIND_SPOT))
        st.markdown("- **Probe A_Df**: " + next(c.help for c in COLUMNS if c.key == "probe_forget_acc"))
        st.markdown(
            "- **ZRF**: "
            + next(c.help for c in COLUMNS if c.key == "zrf")
            + " **Activation distance / JS divergence**: to the retrained model, on forget test images."
        )
    with st.expander("Every column defined"):
        st.markdown(
            "\n".join(f"- **{c.header}**: {c.help}" + (f" *Better: {c.better}.*" if c.better else "") for c in COLUMNS)
        )


def charts_view(result: Comparison, figs: dict) -> None:
    has_reference = any(r.method == "retrain" and r.ok for r in result.rows)
    st.markdown(
        "**Forgetting against retaining.** "
        + (
            "The retrained model (star) is the target: low A_Df, high A_Dr. "
            if has_reference
            else "No retrained model in this comparison: the target is low A_Df, high A_Dr. "
        )
        + "The marker area grows with the wall time; the original is the open ring."
    )
    ui.figure(figs["tradeoff"], key="cmp-tradeoff")
    left, right = st.columns(2)
    with left:
        st.markdown("**A_Df and A_Dr per method**")
        ui.figure(figs["accuracy"], key="cmp-accuracy")
        if "relearn" in figs:
            st.markdown(
                "**Relearn time** (higher = the knowledge is really gone; relearned = forget accuracy back "
                "at 90% of the original's)"
            )
            ui.figure(figs["relearn"], key="cmp-relearn")
        else:
            st.caption("Relearn time: not computed (switched off in the measurement settings).")
        st.markdown("**Distance to the retrained model** on forget test images (lower = closer to the gold standard)")
        ui.figure(figs["to_retrain"], key="cmp-to-retrain")
        st.markdown("**Privacy score against the retrained model** (1 = indistinguishable from retraining)")
        ui.figure(figs["privacy_score"], key="cmp-privacy-score")
    with right:
        st.markdown("**Wall time** (log scale)")
        ui.figure(figs["time"], key="cmp-time")
        st.markdown("**Membership inference** on forget-class training images, and the attacks' own accuracy")
        ui.figure(figs["privacy"], key="cmp-privacy")
        ui.figure(figs["attack_accuracy"], key="cmp-attack-accuracy")
        st.markdown(
            "**Feature probe** (an audit that reads forget-class images): can the features still tell the "
            "forget classes?"
        )
        ui.figure(figs["probe"], key="cmp-probe")
        st.markdown("**ZRF**")
        ui.figure(figs["zrf"], key="cmp-zrf")
    st.markdown(
        "**Where the forget-class test images go.** Predicted classes per method; a spike on one retain class "
        "can leak that something was removed (compare with the retrained model)."
    )
    for name in (k for k in figs if k.startswith("predictions_")):
        ui.figure(figs[name], key=f"cmp-{name}")
    to = st.radio("Layer-wise weight distance to", ["original", "retrain"], horizontal=True, key="cmp:layers-to")
    normalized = st.toggle("Normalised by the reference's weight norm", value=True, key="cmp:layers-norm")
    ui.figure(layer_chart(result, to, normalized), key="cmp-layers")


def downloads(result: Comparison, figs: dict) -> None:
    st.markdown("**Downloads**")
    d1, d2, d3, d4 = st.columns(4)
    d1.download_button(
        "Table and details (JSON)",
        strict_json.dumps(result.to_json()).encode(),
        "compare.json",
        "application/json",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    d2.download_button(
        "Table (CSV)",
        result.to_csv().encode(),
        "compare.csv",
        "text/csv",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    d3.download_button(
        "Table (Markdown)",
        result.to_markdown().encode(),
        "compare.md",
        "text/markdown",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    d4.download_button(
        "Figures (HTML)",
        figures_html(result, figs),
        "compare.html",
        "text/html",
        on_click="ignore",
        icon=":material/download:",
        width="stretch",
    )
    with st.expander("Settings each method ran with"):
        st.json({r.title: r.settings for r in result.rows if r.settings}, expanded=False)


def results(result: Comparison) -> None:
    st.divider()
    forgot = ", ".join(result.class_names[c] for c in result.forget)
    st.subheader(f"Results: forgetting {md(forgot)}")
    st.caption(
        f"{md(result.dataset)}, {result.arch} on {result.device}; total {jobs.format_seconds(result.total_s)} "
        f"including the measurements. Distances to retrain are measured against: {md(result.reference)}."
        + (" Cancelled: the rows after the cancel did not run." if result.cancelled else "")
    )
    if result.reference_warning:
        st.warning(result.reference_warning, icon=":material/warning:")
    for note in result.notes:
        if note != result.reference_warning:
            st.caption("• " + md(note))
    for r in result.rows:
        if not r.ok:
            st.error(f"**{r.title}**: {md(r.status)}")
    verdict_view(result)
    table(result)
    privacy_notes(result)
    figs = all_figures(result)
    charts_view(result, figs)
    downloads(result, figs)
