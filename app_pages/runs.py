import functools
from dataclasses import asdict

import pandas as pd
import streamlit as st

from unsir_core.paths import model_store
from unsir_core.store import save_model, slug

from studio import export, imports, jobs, nav, runs, state, ui
from studio.palette import stage_title

ui.header(nav.RUNS, """
Every UNSIR run of this session, with its settings, metrics and timings. Compare two runs to see what a change of
settings (say, the impair learning rate) did to the forget and retain accuracy, and download results, models and
figures to keep them.
""")
history = runs.history()
if not history:
    ui.pick_run("runs-none")
    st.stop()
busy = jobs.busy()

st.dataframe(pd.DataFrame([export.summary_row(r) for r in reversed(history)]), hide_index=True, width="stretch",
             key="runs-table")
st.caption(f"Only the newest {runs.KEEP_MODELS} runs keep their models in memory; older runs keep their metrics.")


def flat(d: dict, prefix: str = "") -> dict:
    """Nested dicts -> one level with dotted keys."""
    out = {}
    for k, v in d.items():
        out.update(flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def setup_changes(a: runs.RunRecord, b: runs.RunRecord) -> list[dict]:
    """The settings that differ between two runs."""
    sa, sb = (flat({**asdict(r.setup), "checkpoint": r.model_name}) for r in (a, b))
    return [{"setting": k, "run A": str(sa[k]), "run B": str(sb.get(k))}
            for k in sa if k != "model" and sa[k] != sb.get(k)]


def effects(a: runs.RunRecord, b: runs.RunRecord) -> list[dict]:
    """A_Df and A_Dr of every stage both runs have, and the phase timings, side by side."""
    rows = []
    for stage in [s for s in a.metrics if s in b.metrics]:
        for key, name in (("forget_acc", "A_Df"), ("retain_acc", "A_Dr")):
            rows.append({"metric": f"{name} · {stage_title(stage)} (%)", "run A": a.metrics[stage][key],
                         "run B": b.metrics[stage][key]})
    for phase in ("noise", "impair", "repair", "unlearn"):
        rows.append({"metric": f"{phase} time (s)", "run A": a.report["timings_s"][phase],
                     "run B": b.report["timings_s"][phase]})
    for row in rows:
        row["B − A"] = row["run B"] - row["run A"]
    return rows


st.subheader("Compare two runs")
if len(history) < 2:
    st.info("Make a second run (say, with another impair learning rate) to compare it with this one.")
else:
    by_id = {r.id: r for r in reversed(history)}
    left, right = st.columns(2)
    a = by_id[left.selectbox("Run A", list(by_id), index=1, format_func=lambda i: by_id[i].title, key="compare-a",
                             disabled=busy, help="The reference run.")]
    b = by_id[right.selectbox("Run B", list(by_id), index=0, format_func=lambda i: by_id[i].title, key="compare-b",
                              disabled=busy, help="The run compared with A.")]
    changes = setup_changes(a, b)
    if changes:
        st.markdown("**What changed in the setup**")
        st.dataframe(pd.DataFrame(changes), hide_index=True, width="stretch", height="content", key="compare-setup")
    else:
        st.markdown("**Same setup**: any difference below is run-to-run variation (on a GPU) or none at all.")
    st.markdown("**What it did**")
    st.dataframe(pd.DataFrame(effects(a, b)).round(2), hide_index=True, width="stretch", height="content",
                 key="compare-effects")

st.subheader("Downloads")
row = st.container(horizontal=True)
row.download_button("All runs (JSON)", export.runs_json(history), "unsir-runs.json", "application/json",
                    on_click="ignore", icon=":material/download:", key="dl-json",
                    help="Every run: config, metrics per stage, timings, audits and the setup as URL parameters.")
row.download_button("All runs (CSV)", export.runs_csv(history), "unsir-runs.csv", "text/csv", on_click="ignore",
                    icon=":material/download:", key="dl-csv", help="One row per run, as in the table above.")

record = ui.pick_run("download-run")
stem = slug(f"{record.setup.dataset}-{record.setup.arch}-forget-{'-'.join(record.setup.forget)}-run{record.id}")
held = record.unsir is not None


def save_to_store(record: runs.RunRecord, stem: str) -> None:
    path = save_model(record.unsir.result.model, imports.unique_path(model_store() / f"{stem}.safetensors"))
    state.notify("success", f"Saved {path.name} in the model store: choose it on Model and data to unlearn more "
                 "classes from it (sequential unlearning).")


row = st.container(horizontal=True)
row.download_button("Figures (HTML)", functools.partial(export.figures_html, record), f"{stem}-figures.html",
                    "text/html", on_click="ignore", icon=":material/bar_chart:", key="dl-figures",
                    help="Every chart of this run in one interactive HTML file that works offline.")
degraded = record.report["degraded"]
why_not = (" Not offered: the collapse guard marked this run degraded." if degraded else
           "" if held else " Released: only the newest runs keep their models.")
row.download_button("Unlearned model (safetensors)",
                    functools.partial(export.model_bytes, record.unsir.result.model) if held and not degraded else b"",
                    f"{stem}.safetensors", "application/octet-stream", on_click="ignore",
                    icon=":material/download:", key="dl-model", disabled=not held or degraded,
                    help="The model after repair, with its metadata (config, forgotten classes)." + why_not)
row.button("Save unlearned model to the model store", key="save-model", icon=":material/save:",
           disabled=busy or not held or degraded, on_click=save_to_store, args=(record, stem),
           help="Keep the unlearned model as a checkpoint, to start a further unlearning request from it." + why_not)
