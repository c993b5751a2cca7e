"""Compare methods: UNSIR next to retraining and the usual baselines on the same request (paper Table 1).

Choose methods and their settings, see the plan with its time estimate, run them all with progress per
method, then read the table, the charts and the prediction histograms; everything downloads. The
engine is `unsir_core.experiments.compare`; the views are in `studio/compare_views.py`.
"""

from __future__ import annotations

from dataclasses import asdict

import streamlit as st

from studio import compare_job, compare_views, embedding_views, jobs, nav, state, ui
from unsir_core.methods import Request

state.start_session()  # a no-op under app.py; lets the page run on its own (AppTest)
ui.header(
    nav.COMPARE,
    """
Run **UNSIR** next to **retraining from scratch** (the gold standard) and the usual baselines on the same forget
request, and measure them all the same way, as in the paper's Table 1. *Reads D_f* says whether a method read
forget-class training images: UNSIR, fine-tuning and retraining never do; the other baselines need them.
""",
)
data, model = ui.require_model()
forget = ui.require_forget(data)
setup = state.setup()
busy = jobs.busy()

st.subheader("Methods")
chosen = compare_views.method_picker(busy)
compare_views.settings_forms(chosen, setup, Request(model.info, data, tuple(forget)), busy)
metrics, train_reference = compare_views.measurement_settings(setup, busy)
settings = {n: asdict(compare_views.chosen_settings(n, setup)) for n in dict.fromkeys([*chosen, "retrain"])}
if chosen:
    compare_views.plan_view(chosen, settings, setup, model, data, metrics, train_reference)
st.button(
    "Run the comparison",
    type="primary",
    icon=":material/play_arrow:",
    key="cmp:run",
    disabled=busy or not chosen,
    on_click=jobs.request,
    args=(compare_job.KIND, f"Compare {len(chosen)} methods: forget {', '.join(setup.forget)}"),
    kwargs=dict(methods=list(chosen), settings=settings, metrics=metrics, train_reference=train_reference, setup=setup),
    help="Runs every chosen method on its own copy of the model, then measures each result; the table "
    "appears when all are done.",
)
compare_job.execute(model, data)

result = st.session_state.get(compare_job.RESULT)
if result is None:
    st.info("No comparison yet in this session: choose the methods above and run them.")
    st.stop()
compare_views.results(result)
embedding_views.compare_section(result, data, setup.config.seed)
