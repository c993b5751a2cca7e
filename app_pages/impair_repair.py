import streamlit as st

from studio import jobs, nav, runs, state, ui
from studio.captions import ablation_caption, stage_caption
from studio.figures import run_figures, with_ablation
from studio.setup import AUTO, preset_notes, train_range
from unsir_core.algorithm.presets import PRESETS
from unsir_core.common.config import ABLATIONS
from unsir_core.common.escaping import md

AUTO_TITLE = "Auto: derived from the data and the model"

ui.header(
    nav.UNLEARN,
    """
**Impair** trains the model for one epoch on the noise (each sample labelled with its forget class) mixed
with the small **retain subset**, at a high learning rate, to damage the network and the forget classes most.
**Repair** then trains on the retain subset alone, to restore the retain classes while the forget classes, which
it never sees, stay gone. Whether each phase did its job in your run is said under the live chart, from the run's
numbers; the ablation switch there runs the same recipe with one part taken out. The learning rates are the most
sensitive settings (paper Tables 5-6).
""",
)
data, model = ui.require_model()
forget = ui.require_forget(data)
setup = state.setup()
busy = jobs.busy()

st.selectbox(
    "Preset",
    [AUTO, *PRESETS],
    format_func=lambda k: AUTO_TITLE if k == AUTO else PRESETS[k].title,
    disabled=busy,
    help="Auto derives the settings from this data set and model (retain subset size, noise "
    "volume, batches, learning rates by architecture family); the others are the paper's settings or tuned "
    "for one data set. Choosing one replaces every setting below except the seed.",
    **state.bind("preset"),
)
if setup.preset == AUTO:
    chosen = runs.recipe(setup, data, model)
    st.caption("The auto recipe chose, for this data set, model and forget set:")
    st.markdown("\n".join(f"- {line}" for line in chosen.choices))
else:
    st.caption(PRESETS[setup.preset].description)

retain_col, impair_col, repair_col = st.columns(3, border=True)
for col, title, names in (
    (retain_col, "Retain subset and seed", ("retain_per_class", "noise_copies", "seed")),
    (impair_col, "Impair", ("impair.lr", "impair.epochs", "impair.batch_size")),
    (repair_col, "Repair", ("repair.lr", "repair.epochs", "repair.batch_size")),
):
    with col:
        st.markdown(f"**{title}**")
        for name in names:
            ui.knob(name)
for note in preset_notes(setup.config):
    st.caption(note)

with st.container(border=True):
    st.markdown("**Gold standard**")
    retrain_col, epochs_col = st.columns([3, 2], vertical_alignment="center")
    with retrain_col:
        st.checkbox(
            "Also train the retrained model",
            disabled=busy,
            help="Trains the same architecture from scratch without the forget classes, as the reference an "
            "unlearned model should match, once: it is kept in the reference store, and a stored one (shipped "
            "for every class of the default model) is used without this box. Takes much longer than UNSIR "
            "(see the estimate below).",
            **state.bind("retrain"),
        )
    with epochs_col:
        st.number_input(
            "Retraining epochs (0 = as the original)",
            0,
            train_range("epochs")[1],
            disabled=busy or not setup.retrain,
            help="Epochs of the retraining; 0 uses as many as the original model was trained for. Fewer "
            "is faster but a weaker reference.",
            **state.bind("retrain_epochs"),
        )
    st.caption(runs.retrain_estimate(setup, model))

st.button(
    "Run UNSIR",
    type="primary",
    icon=":material/play_arrow:",
    key="run-unsir",
    disabled=busy,
    on_click=runs.request,
    args=(setup,),
    help="Noise, impair, repair and evaluation on a copy of the model; the result is kept only when the run completes.",
)
runs.execute()

last = next((r for r in reversed(runs.history()) if r.live), None)  # runs made here (not sweep cells)
if last is not None:
    st.subheader(f"Last run: {md(last.title)}")
    st.markdown(
        "**Forget and retain accuracy during the run**, measured on a fixed test probe (50 images per class) "
        f"every {last.report['extras']['monitor_every']} steps; step 0 is the original model."
    )
    figs = run_figures(last)
    ablation = st.radio(
        "Ablation beside this run",
        [k for k in ABLATIONS if k != "none"],
        format_func=runs.ablation_title,
        horizontal=True,
        key="ablation-choice",
        help="The same request and recipe with one part of UNSIR taken out, drawn dashed on the same chart: "
        "without the noise (impair on the retain subset only), with random unoptimised noise, without impair, or "
        "without repair.",
    )
    base, twin = runs.with_twin(ablation)
    if base is not None and twin is None:
        st.button(
            f"Run UNSIR {runs.ablation_title(ablation)} beside run {base.id}",
            icon=":material/compare_arrows:",
            key="run-ablation",
            disabled=busy,
            on_click=runs.request,
            args=(runs.ablation_setup(base.setup, ablation),),
        )
    if base is not None and twin is not None:
        ui.figure(with_ablation(base, twin), key="last-live")
        st.markdown(md(ablation_caption(runs.ablation_title(ablation), base.metrics, twin.metrics, ablation)))
    else:
        ui.figure(figs["live"], key="last-live")
    st.markdown(md(stage_caption(last.metrics)))
    timings = last.report["timings_s"]
    made = (last.report.get("extras", {}).get("reference") or {}).get("train_s")
    retrained = (
        f", retraining {timings['retrain']:.1f} s"
        if "retrain" in timings
        else "; the retrained model came from the reference store"
        + (f" (its training took {made:.0f} s when it was made)" if made else "")
        + f", loaded in {timings['reference']:.2f} s"
        if "reference" in timings
        else ""
    )
    st.markdown(f"**Phase timings** on {last.report['device']}: unlearning took {timings['unlearn']:.2f} s{retrained}.")
    ui.figure(figs["timings"], key="last-timings")
    ui.metric_cards(last)
    ui.link(nav.RESULTS, "See every metric of this run on the Results page")
