import streamlit as st

from studio import audit_views, audits, chain, embedding_views, handout, jobs, nav, ui
from studio.figures import run_figures
from studio.palette import stage_title

ui.header(
    nav.RESULTS,
    """
Good unlearning drives the **forget accuracy A_Df** to about 0 while the **retain accuracy A_Dr** stays close
to the original's, and it should look like the **retrained** model (trained without the forget classes), the
gold standard, rather than merely hide the classes. All accuracies are on the test split.
""",
)
record = ui.pick_run("results-run")
if record is None:
    st.stop()
busy = jobs.busy()
metrics = record.metrics

handout.shared_box("results-shared")
handout.summary_box(record)
chain.forget_more(record, "results-forget-more")
chain.back_to_original("results-back-to-original")
ui.metric_cards(record)
audit_views.verdict(record)
audit_views.reference_notice(record)
chain.baseline_caption(record)
if "retrain" not in metrics:
    st.caption(
        "No retrained model in this run: no stored reference matches its forget set and settings; tick "
        "*Also train the retrained model* on Impair and repair to compare with the gold standard."
    )

chain.timeline_section(record)

st.subheader("Where do forget-class images go?")
st.markdown(
    "Predicted classes of the forget-class test images (paper Figs. 3-4). After unlearning they should "
    "go where the retrained model sends them. A class with one close look-alike goes mostly there even in "
    "the retrained model (on Shapes-10: circle to heart, ring to crescent). A class with two look-alikes "
    "splits between them, and which one gets more changes with the seed, in the retrained model too "
    "(crescent: 48 to 81% on one class). Piling up on a class the retrained model does not favour would "
    "itself reveal what was forgotten (a Streisand effect)."
)
normalized = st.session_state.get("results-normalized", True)
figs = run_figures(record, normalized)
ui.figure(figs["distribution"], key="results-distribution")

st.subheader("Accuracy per class")
ui.figure(figs["per_class"], key="results-per-class")

st.subheader("How far did the weights move?")
st.markdown(
    "Layer-wise distance from the original weights (paper Fig. 2, log scale). UNSIR changes the network "
    "far less than retraining from scratch, which starts from new random weights."
)
st.toggle(
    "Normalise by the original layer's norm",
    value=True,
    key="results-normalized",
    help="On: ‖w − w_original‖ / ‖w_original‖ per layer, comparable across layers. Off: the plain L2 distance.",
)
ui.figure(figs["weights"], key="results-weights")
weights = record.report["extras"]["weights"]
totals = {s: sum(d["l2"] ** 2 for d in layers) ** 0.5 for s, layers in weights.items()}
st.caption(" · ".join(f"Total distance original → {stage_title(s).lower()}: {v:.2f}" for s, v in totals.items()))

embedding_views.results_section(record)

st.subheader("Audits")
st.markdown(
    "Checks that read forget-class images on purpose, after the fact. **Relearn time**: epochs of "
    "fine-tuning (500 random training images each) until the forget accuracy is back at 90% of the "
    "original's; more epochs mean the knowledge was removed rather than hidden. **Membership inference**: "
    "how many forget-class training images an attacker still recognises as training data, next to how "
    "well the attack works at all."
)
held = record.unsir is not None
if not held:
    st.info(
        "This run's models were released to save memory (only the newest runs keep them): the audits below "
        "show what was computed before."
    )
relearn_col, mia_col = st.columns(2, border=True, gap="medium")
with relearn_col:
    st.markdown("**Relearn time**")
    max_epochs = st.number_input(
        "Maximum epochs",
        1,
        200,
        20,
        key="relearn-max",
        disabled=busy or not held,
        help="Stop relearning after this many epochs and report it as capped.",
    )
    st.button(
        "Compute relearn time",
        key="relearn",
        icon=":material/replay:",
        disabled=busy or not held,
        on_click=audits.request_relearn,
        args=(record.id, max_epochs),
        help="Fine-tunes copies of the unlearned (and retrained) model; the run's models stay unchanged.",
    )
    result = record.audits.get("relearn")
    if result:
        audit_views.relearn_cards(result)
        ui.figure(figs["relearn"], key="results-relearn")
with mia_col:
    st.markdown("**Membership inference**")
    audit_views.membership(record, busy or not held)
privacy_col, probe_col = st.columns(2, border=True, gap="medium")
with privacy_col:
    audit_views.retrain_privacy(record, busy or not held)
with probe_col:
    audit_views.probe(record, busy or not held)
audits.execute()
