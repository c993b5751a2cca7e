import streamlit as st

from studio import charts, diagram, handout, jobs, nav, runs, ui
from unsir_core.algorithm.recipe import retain_rule
from unsir_core.common.escaping import md
from unsir_core.common.numbers import pct, pp

ui.header(
    nav.OVERVIEW,
    """
**UNSIR Studio** walks through UNSIR (Tarun et al., *Fast Yet Effective Machine Unlearning*), which removes
what a trained classifier knows about chosen classes, the **forget set**, in seconds and without retraining
from scratch. It learns **error-maximizing noise** for each forget class on the frozen
model, **impairs** the model with one high-learning-rate epoch on that noise plus a small **retain subset**,
then **repairs** it with one epoch on the retain subset alone.
""",
)
st.html(diagram.pipeline(runs.latest().metrics if runs.latest() else None))

left, right = st.columns([3, 2], gap="large")
with left:
    st.subheader("Zero-glance unlearning")
    st.markdown(f"""
The only training images UNSIR reads are the **retain** subset: with the auto recipe, {retain_rule()}. Forget-class
training data is never read: not for the noise, not for impair, not for repair. The noise is learned from
the model alone, as the input the model finds most unlike each forget class. Only the evaluation (test
accuracy A_Df on the forget classes and A_Dr on the retain classes, and the optional audits) looks at
forget-class images.
""")
with right:
    st.subheader("Guided demo")
    st.markdown(
        f"One click runs the whole flow on the embedded **Shapes-10** data set and the shipped small CNN: "
        f"forget **{', '.join(runs.DEMO_FORGET)}**, learn the noise, impair, repair and evaluate (a few "
        "seconds on a laptop CPU)."
    )
    st.button(
        "Run the guided demo",
        type="primary",
        icon=":material/play_arrow:",
        on_click=runs.start_demo,
        disabled=jobs.busy(),
        key="demo",
        help="Sets the default data set, model and preset, forgets the demo class and runs UNSIR.",
    )

handout.shared_box("overview-rerun")
runs.execute()

last = runs.latest()
if last is not None:
    st.subheader(f"Latest result: {md(last.title)}")
    handout.summary_box(last)
    m = last.metrics
    cols = st.columns(4)
    cols[0].metric(
        "A_Df before",
        pct(m["original"]["forget_acc"]),
        border=True,
        help="Forget-class test accuracy of the original model.",
    )
    cols[1].metric(
        "A_Df after",
        pct(m["repair"]["forget_acc"]),
        pp(m["repair"]["forget_acc"] - m["original"]["forget_acc"]),
        delta_color="inverse",
        border=True,
        help="Forget-class test accuracy after impair and repair: near 0 means forgotten.",
    )
    cols[2].metric(
        "A_Dr before",
        pct(m["original"]["retain_acc"]),
        border=True,
        help="Retain-class test accuracy of the original model.",
    )
    cols[3].metric(
        "A_Dr after",
        pct(m["repair"]["retain_acc"]),
        pp(m["repair"]["retain_acc"] - m["original"]["retain_acc"]),
        border=True,
        help="Retain-class test accuracy after repair: close to the original means little collateral damage.",
    )
    ui.figure(charts.stage_accuracy(m), key="overview-stages")
    st.caption(f"Unlearning took {last.report['timings_s']['unlearn']:.2f} s on {last.report['device']}.")
    ui.link(nav.RESULTS, "See every metric on the Results page")
