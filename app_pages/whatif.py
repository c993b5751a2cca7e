import streamlit as st

from studio import jobs, nav, state, ui, whatif
from unsir_core.common.escaping import md
from unsir_core.experiments.studies import STUDIES

if st.session_state.pop(whatif.OPEN, False):  # a run was clicked: show it (before this page takes its notices)
    st.switch_page(nav.RESULTS.path)
ui.header(
    nav.WHATIF,
    """
What if the impair learning rate were ten times lower? What if you forgot four classes instead of one? A **sweep**
runs UNSIR on the current setup once per value (and per seed) of one or two settings and draws the **forget
accuracy A_Df** and **retain accuracy A_Dr** after impair and after repair as the runs finish: the paper's
sensitivity studies (Tables 1, 5, 6, 8, 9 and Fig. 7), on your model. Finished runs are cached, so a repeated or
extended sweep only runs what is new.
""",
)
data, model = ui.require_model()
ui.require_forget(data)
setup = state.setup()
busy = jobs.busy()

spec, study = whatif.form(setup, data, model, busy)
if study in STUDIES:
    st.caption(f"**The paper:** {STUDIES[study].finding} ({STUDIES[study].source}.)")
if spec is not None:
    st.caption(
        f"Forget set: **{md(', '.join(setup.forget))}** (change it on *Forget classes and noise*); every other "
        "setting is the current setup's (*Impair and repair*)."
    )
st.button(
    "Run the sweep",
    type="primary",
    icon=":material/play_arrow:",
    key="run-sweep",
    disabled=busy or spec is None,
    on_click=whatif.request,
    args=(spec, setup, study),
    help="Runs every grid point and seed not in the cache, one after another, with a live chart. Cancel keeps "
    "the finished runs in the cache: running again continues.",
)
whatif.execute()

run = whatif.latest()
if run is not None:
    layout = whatif.Layout.of(run.result.spec)
    result = run.result
    st.subheader(f"{len(result.records)} runs on {md(result.dataset)}, {result.arch}")
    metric = "retain_acc_repair"
    if layout.y is not None:
        metric = st.radio(
            "Heat map of",
            list(whatif.METRIC_TITLES),
            format_func=whatif.METRIC_TITLES.get,
            key="whatif-metric",
            horizontal=True,
            index=3,
        )
    st.plotly_chart(
        whatif.figure(result.frame(), layout, metric),
        width="stretch",
        key="whatif-chart",
        on_select=lambda: whatif.on_chart_select(run),
        selection_mode="points",
        config={"displaylogo": False},
    )
    st.caption(
        "Click a point to open that run on the Results page. "
        + (
            "Lines: the mean over seeds; bands: the lowest to the highest seed; points: each run."
            if layout.y is None
            else "Each square: the mean over seeds."
        )
    )
    st.markdown("**In the paper's layout**")
    st.dataframe(whatif.paper_table(run, layout), hide_index=True, width="stretch", key="whatif-table")
    options = whatif.cell_options(run)
    pick, open_col, use_col = st.columns([4, 1, 1], vertical_alignment="bottom")
    cell = pick.selectbox(
        "Run",
        list(options),
        format_func=options.get,
        key="whatif-cell",
        disabled=busy,
        help="One run of the sweep: its grid point, forget set and seed.",
    )
    open_col.button(
        "Open in Results",
        key="whatif-open",
        icon=":material/analytics:",
        disabled=busy,
        width="stretch",
        on_click=whatif.open_cell,
        args=(run, cell),
    )
    use_col.button(
        "Use its settings",
        key="whatif-use",
        icon=":material/tune:",
        disabled=busy,
        width="stretch",
        on_click=whatif.use_settings,
        args=(run, cell),
        help="Make this run's forget set and settings the current setup, to rerun it with its models.",
    )
    row = st.container(horizontal=True)
    for i, (name, (payload, filename, mime)) in enumerate(whatif.downloads(run).items()):
        row.download_button(
            name, payload, filename, mime, on_click="ignore", icon=":material/download:", key=f"whatif-dl-{i}"
        )
