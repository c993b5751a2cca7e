import functools

import pandas as pd
import streamlit as st

from studio import chain, export, handout, imports, jobs, nav, runs, state, ui
from studio.palette import stage_title
from unsir_core.checkpoints.store import save_model, slug
from unsir_core.common.escaping import md
from unsir_core.common.paths import model_store

ui.header(
    nav.RUNS,
    """
Every UNSIR run of this session, with its settings, metrics and timings. Compare two runs to see what a change of
settings (say, the impair learning rate) did to the forget and retain accuracy, forget more classes from a run's
model, and download results, models and a report to hand out.
""",
)
history = runs.history()
if not history:
    ui.pick_run("runs-none")
    st.stop()
busy = jobs.busy()
chain.back_to_original("runs-back-to-original")

st.dataframe(
    pd.DataFrame([export.summary_row(r) for r in reversed(history)]), hide_index=True, width="stretch", key="runs-table"
)
st.caption(f"Only the newest {runs.KEEP_MODELS} runs keep their models in memory; older runs keep their metrics.")


def effects(a: runs.RunRecord, b: runs.RunRecord) -> list[dict]:
    """A_Df and A_Dr of every stage both runs have, and the phase timings, side by side."""
    rows = []
    for stage in [s for s in a.metrics if s in b.metrics]:
        for key, name in (("forget_acc", "A_Df"), ("retain_acc", "A_Dr")):
            rows.append(
                {
                    "metric": f"{name} · {stage_title(stage)} (%)",
                    "run A": a.metrics[stage][key],
                    "run B": b.metrics[stage][key],
                }
            )
    for phase in ("noise", "impair", "repair", "unlearn"):
        rows.append(
            {
                "metric": f"{phase} time (s)",
                "run A": a.report["timings_s"][phase],
                "run B": b.report["timings_s"][phase],
            }
        )
    for row in rows:
        row["B − A"] = row["run B"] - row["run A"]
    return rows


st.subheader("Compare two runs")
if len(history) < 2:
    st.info("Make a second run (say, with another impair learning rate) to compare it with this one.")
else:
    by_id = {r.id: r for r in reversed(history)}
    left, right = st.columns(2)
    a = by_id[
        left.selectbox(
            "Run A",
            list(by_id),
            index=1,
            format_func=lambda i: by_id[i].title,
            key="compare-a",
            disabled=busy,
            help="The reference run.",
        )
    ]
    b = by_id[
        right.selectbox(
            "Run B",
            list(by_id),
            index=0,
            format_func=lambda i: by_id[i].title,
            key="compare-b",
            disabled=busy,
            help="The run compared with A.",
        )
    ]
    changes = handout.setup_changes(a, b)
    if changes:
        st.markdown("**What changed in the setup**")
        st.markdown("\n".join(f"- {md(c)}" for c in changes))
    else:
        st.markdown("**Same setup**: any difference below is run-to-run variation (on a GPU) or none at all.")
    st.markdown("**What it did**")
    st.dataframe(
        pd.DataFrame(effects(a, b)).round(2), hide_index=True, width="stretch", height="content", key="compare-effects"
    )
    st.download_button(
        "Comparison report (HTML)",
        functools.partial(handout.comparison_html, a, b, handout.base_url()),
        f"unsir-run{a.id}-vs-run{b.id}.html",
        "text/html",
        on_click="ignore",
        icon=":material/description:",
        key="dl-comparison",
        help="The two runs side by side on one printable page: what changed, both summaries, the key "
        "numbers and their differences, charts, the settings that differ and both links.",
    )

st.subheader("Downloads")
row = st.container(horizontal=True)
row.download_button(
    "All runs (JSON)",
    export.runs_json(history),
    "unsir-runs.json",
    "application/json",
    on_click="ignore",
    icon=":material/download:",
    key="dl-json",
    help="Every run: config, metrics per stage, timings, audits and the setup as URL parameters.",
)
row.download_button(
    "All runs (CSV)",
    export.runs_csv(history),
    "unsir-runs.csv",
    "text/csv",
    on_click="ignore",
    icon=":material/download:",
    key="dl-csv",
    help="One row per run, as in the table above.",
)

record = ui.pick_run("download-run")
stem = slug(f"{record.setup.dataset}-{record.setup.arch}-forget-{'-'.join(record.setup.forget)}-run{record.id}")
held = record.unsir is not None


def save_to_store(record: runs.RunRecord, stem: str) -> None:
    path = save_model(export.unlearned_model(record), imports.unique_path(model_store() / f"{stem}.safetensors"))
    state.notify(
        "success",
        f"Saved {path.name} in the model store, with the chain of requests that made it: it can "
        "be downloaded or chained from the command line (unlearn --checkpoint).",
    )


chain.forget_more(record, "runs-forget-more")
row = st.container(horizontal=True)
row.download_button(
    "Report (HTML)",
    functools.partial(handout.report_html, record, handout.base_url()),
    f"{stem}-report.html",
    "text/html",
    on_click="ignore",
    icon=":material/description:",
    key="dl-report",
    help="One page to hand out: the summary in words, the setup, the key numbers "
    "(original, unlearned, retrained), a before/after gallery, titled charts, settings, environment "
    "and the link that reproduces the run. Works offline and prints to PDF.",
)
degraded = record.report["degraded"]
why_not = (
    " Not offered: the collapse guard marked this run degraded."
    if degraded
    else ""
    if held
    else " Released: only the newest runs keep their models."
)
row.download_button(
    "Unlearned model (safetensors)",
    functools.partial(export.model_bytes, record) if held and not degraded else b"",
    f"{stem}.safetensors",
    "application/octet-stream",
    on_click="ignore",
    icon=":material/download:",
    key="dl-model",
    disabled=not held or degraded,
    help="The model after repair, with its metadata (config, forgotten classes)." + why_not,
)
row.button(
    "Save unlearned model to the model store",
    key="save-model",
    icon=":material/save:",
    disabled=busy or not held or degraded,
    on_click=save_to_store,
    args=(record, stem),
    help="Keep the unlearned model as a checkpoint, to start a further unlearning request from it." + why_not,
)
