"""Compare methods: UNSIR next to retraining and the usual baselines on the same request (paper Table 1).

Choose methods and their settings, run them all with progress per method, then read the table, the
charts and the prediction histograms; everything downloads. The engine is `unsir_core.compare`.
"""
from __future__ import annotations

import json
import math
import time
from typing import Any

import plotly.graph_objects as go
import streamlit as st

from studio import charts, jobs, loaders, nav, state, ui
from studio.palette import FORGET, RETAIN, stage_color
from unsir_core import strict_json
from unsir_core.compare import COLUMNS, Comparison, MetricSettings, compare
from unsir_core.methods import METHODS, SettingField
from unsir_core.metrics.privacy import MIA_VARIANTS

PAGE = nav.COMPARE
RESULT = "compare:result"  # the last finished Comparison of this session
REFERENCE = "compare:reference"  # (key, retrained model) kept to skip retraining next time
KIND = "compare"
METHOD_COLORS = {"original": stage_color("original"), "retrain": stage_color("retrain"), "finetune": "#1ABC9C",
                 "neggrad": "#C0392B", "neggrad_plus": "#E67E22", "random_labels": "#F1C40F",
                 "bad_teacher": "#7F8C8D", "scrub": "#3498DB", "salun": "#D35400", "unsir": stage_color("repair")}

state.start_session()  # a no-op under app.py; lets the page run on its own (AppTest)
ui.header(PAGE, """
Run **UNSIR** next to **retraining from scratch** (the gold standard) and the usual baselines on the same forget
request, and measure them all the same way, as in the paper's Table 1. *Reads D_f* says whether a method read
forget-class training images: UNSIR, fine-tuning and retraining never do; the other baselines need them.
""")
data, model = ui.require_model()
forget = ui.require_forget(data)
setup = state.setup()
busy = jobs.busy()


# ------------------------------------------------------------------ choosing methods and settings

def widget_key(method: str, name: str) -> str:
    return f"cmp:{method}:{name}"


def setting_widget(method: str, f: SettingField) -> None:
    key = widget_key(method, f.name)
    label = f.name.replace("_", " ")
    if f.choices:
        st.selectbox(label, list(f.choices), index=list(f.choices).index(f.default), key=key, help=f.help,
                     disabled=busy)
    elif f.kind is bool:
        st.checkbox(label, value=f.default, key=key, help=f.help, disabled=busy)
    elif f.kind is int:
        st.number_input(label, min_value=0, value=f.default, step=1, key=key, help=f.help, disabled=busy,
                        placeholder="preset")
    elif f.kind is float:
        step = 10 ** math.floor(math.log10(f.default)) if f.default else 0.1
        st.number_input(label, min_value=0.0, value=f.default, step=float(step), format="%g", key=key, help=f.help,
                        disabled=busy, placeholder="preset")
    else:
        st.text_input(label, value=f.default, key=key, help=f.help, disabled=busy)


def reset(method: str) -> None:
    for f in METHODS[method].fields():
        st.session_state.pop(widget_key(method, f.name), None)


def overrides(method: str) -> dict[str, Any]:
    """The fields of `method` whose widgets differ from the documented defaults."""
    out = {}
    for f in METHODS[method].fields():
        value = st.session_state.get(widget_key(method, f.name), f.default)
        if value != f.default:
            out[f.name] = value
    return out


st.subheader("Methods")
chosen = st.multiselect(
    "Methods to compare", list(METHODS), default=list(METHODS), key="cmp:methods", disabled=busy,
    format_func=lambda m: f"{METHODS[m].title}{'' if METHODS[m].reads_forget else ' (zero-glance)'}",
    help="Retraining runs first whatever the order: it is the reference of the distance columns.")
st.dataframe([{"Method": m.title, "What it does": m.summary, "Reads D_f": "yes" if m.reads_forget else "no",
               "Source": m.paper} for n, m in METHODS.items() if n in chosen], hide_index=True, width="stretch")

st.markdown("**Settings.** Each method starts from defaults tuned on Shapes-10 with the Small CNN (documented in "
            "`unsir_core/methods/`); change them here. UNSIR's empty fields keep its preset's values.")
for name in chosen:
    method = METHODS[name]
    changed = overrides(name)
    with st.expander(f"{method.title} settings" + (f" · {len(changed)} changed" if changed else "")):
        cols = st.columns(3)
        for i, f in enumerate(method.fields()):
            with cols[i % 3]:
                setting_widget(name, f)
        st.button("Reset to defaults", key=f"cmp:reset:{name}", on_click=reset, args=(name,), disabled=busy)

with st.expander("Measurement settings (the same for every method)"):
    c1, c2, c3, c4 = st.columns(4)
    c1.checkbox("Measure relearn time", value=True, key="cmp:relearn", disabled=busy,
                help="The slowest metric: up to the cap of 500-sample fine-tuning epochs per method.")
    c2.number_input("Relearn cap (epochs)", 1, 100, MetricSettings().relearn_max_epochs, key="cmp:relearn-cap",
                    disabled=busy)
    c3.number_input("MIA samples", 10, 5000, MetricSettings().mia_samples, step=50, key="cmp:mia",
                    disabled=busy, help="Members and non-members drawn for each membership-inference attack.")
    c4.checkbox("Train the retrained reference", value=True, key="cmp:train-ref", disabled=busy,
                help="Needed for activation distance, JS divergence and weight distance to retrain even when "
                     "'Retrain' is not among the methods.")


def reference_key(retrain: dict[str, Any]) -> tuple:
    path = loaders.model_path(setup)
    return (str(path), path.stat().st_mtime, setup.dataset, tuple(forget), json.dumps(retrain, sort_keys=True))


ref_key = reference_key(overrides("retrain"))
kept = st.session_state.get(REFERENCE)
reuse = False
if kept is not None and kept[0] == ref_key:
    reuse = st.checkbox("Reuse the retrained model of the last comparison (same model, forget classes and retrain "
                        "settings)", value=True, key="cmp:reuse", disabled=busy,
                        help="Skips retraining, the slowest part; its row then shows the time it took back then.")

metric_settings = MetricSettings(relearn=st.session_state.get("cmp:relearn", True),
                                 relearn_max_epochs=int(st.session_state.get("cmp:relearn-cap", 10)),
                                 mia_samples=int(st.session_state.get("cmp:mia", 500)))
st.button("Run the comparison", type="primary", icon=":material/play_arrow:", key="cmp:run",
          disabled=busy or not chosen, on_click=jobs.request,
          args=(KIND, f"Compare {len(chosen)} methods: forget {', '.join(setup.forget)}"),
          kwargs=dict(methods=list(chosen), settings={n: overrides(n) for n in [*chosen, "retrain"]},
                      metrics=metric_settings, reuse=reuse, train_reference=st.session_state.get("cmp:train-ref", True),
                      ref_key=ref_key, setup=setup),
          help="Runs every chosen method on its own copy of the model, then measures each result. A few minutes "
               "on a 2-core CPU for all methods; the table appears when all are done.")


# ------------------------------------------------------------------ the job

class MethodProgress:
    """Per-method status lines above the job's progress bar: waiting, running (phase, step), done."""

    def __init__(self, view: jobs.ProgressView, names: list[str]):
        self.view, self.names = view, names
        self.state = {n: "waiting" for n in names}
        self.started = {}
        self.box = st.empty()
        self.drawn = 0.0

    def __call__(self, ev) -> None:
        name, _, phase = ev.phase.partition("/")
        if name in self.state:
            now = time.perf_counter()
            self.started.setdefault(name, now)
            for n in self.names[: self.names.index(name)]:
                if self.state[n].startswith(("waiting", "running")):
                    self.state[n] = f"done in {now - self.started.get(n, now):.1f} s"
            self.state[name] = f"running: {phase} {ev.step}/{ev.total}"
            if now - self.drawn > jobs.DRAW_INTERVAL_S:
                self.drawn = now
                self.box.markdown(" · ".join(f"**{METHODS[n].title if n in METHODS else n}** {s}"
                                             for n, s in self.state.items()))
        self.view(ev)


def work(job: jobs.Job, view: jobs.ProgressView) -> Comparison:
    p = job.params
    kept = st.session_state.get(REFERENCE)
    reference = kept[1] if p["reuse"] and kept is not None and kept[0] == p["ref_key"] else None
    names = p["methods"]
    order = ["original", *sorted(names, key=lambda n: n != "retrain")]
    if "retrain" not in names and reference is None and p["train_reference"]:
        order.insert(1, "retrain")
    progress = MethodProgress(view, order)
    return compare(model, data, p["setup"].forget, names, p["settings"], loaders.device(), progress=progress,
                   metrics=p["metrics"], reference=reference, train_reference=p["train_reference"])


def commit(result: Comparison, samples: list[dict]) -> str:
    st.session_state[RESULT] = result
    if "retrain" in result.models:
        job = jobs.active()
        st.session_state[REFERENCE] = (job.params["ref_key"], result.models["retrain"])
    failed = [r.title for r in result.rows if not r.ok]
    return (f"Compared {len(result.rows) - 1} methods in {jobs.format_seconds(result.total_s)}."
            + (f" Not finished: {', '.join(failed)} (see the Status column)." if failed else ""))


jobs.execute(KIND, work, commit)


# ------------------------------------------------------------------ results

def method_bars(result: Comparison, keys: list[tuple[str, str, str]], y_title: str, log: bool = False,
                y_range: list[float] | None = None, skip_original: bool = False) -> go.Figure:
    rows = [r for r in result.rows if r.ok and not (skip_original and r.method == "original")]
    fig = go.Figure([go.Bar(x=[r.title for r in rows], y=[getattr(r, key) for r in rows], name=label,
                            marker_color=color, texttemplate="%{y:.3~g}", textposition="outside")
                     for key, label, color in keys])
    return charts.style(fig, barmode="group", yaxis=dict(title=y_title, type="log" if log else "linear",
                                                          range=y_range))


def relearn_chart(result: Comparison) -> go.Figure:
    """Relearn epochs per method; a method still below the target at the cap gets a hatched bar at the cap."""
    cap = result.metric_settings.relearn_max_epochs
    rows = [r for r in result.rows if r.ok and (r.relearn_epochs is not None or r.relearn_capped)]
    fig = go.Figure(go.Bar(x=[r.title for r in rows], y=[cap if r.relearn_capped else r.relearn_epochs for r in rows],
                           text=[r.relearn_text(cap) for r in rows], textposition="outside", marker_color=FORGET,
                           marker_pattern_shape=["/" if r.relearn_capped else "" for r in rows]))
    return charts.style(fig, yaxis=dict(title=f"epochs (hatched: not relearned within {cap})",
                                        range=[0, cap * 1.15]))


def tradeoff(result: Comparison) -> go.Figure:
    """A_Df against A_Dr; the marker area is the wall time; the retrained model marks the target."""
    rows = [r for r in result.rows if r.ok]
    biggest = max([r.wall_s or 0 for r in rows] + [1e-9])
    fig = go.Figure()
    for r in rows:
        size = 12 + 48 * math.sqrt((r.wall_s or 0) / biggest)
        fig.add_scatter(x=[r.retain_acc], y=[r.forget_acc], mode="markers+text", text=[r.title],
                        textposition="top center", name=r.title, showlegend=False,
                        marker=dict(size=size, color=METHOD_COLORS.get(r.method, RETAIN), opacity=0.8,
                                    symbol="star" if r.method == "retrain" else "circle",
                                    line=dict(width=1, color="white")),
                        hovertemplate=f"{r.title}<br>A_Dr %{{x:.1f}}%<br>A_Df %{{y:.1f}}%<br>"
                                      f"{r.wall_s or 0:.1f} s<extra></extra>")
    return charts.style(fig, height=420, xaxis=dict(title="A_Dr: retain-class test accuracy (%) →"),
                        yaxis=dict(title="A_Df: forget-class test accuracy (%)", range=[-5, 105]))


def distributions(result: Comparison, per_row: int = 5) -> list[go.Figure]:
    """Predicted classes on the forget test images, one panel per method, several panels per figure."""
    rows = [r for r in result.rows if r.ok]
    return [charts.class_panels({r.title: r.prediction_distribution for r in rows[i : i + per_row]},
                                result.class_names, result.forget, "forget-class test images", height=300)
            for i in range(0, len(rows), per_row)]


def layer_chart(result: Comparison, to: str, normalized: bool) -> go.Figure:
    key = "normalized" if normalized else "l2"
    fig = go.Figure()
    for r in result.rows:
        layers = r.layers_original if to == "original" else r.layers_retrain
        if not r.ok or not layers or r.method == to or (to == "retrain" and r.method == "retrain"):
            continue
        fig.add_bar(x=[d.name for d in layers], y=[max(getattr(d, key), 1e-12) for d in layers], name=r.title,
                    marker_color=METHOD_COLORS.get(r.method, RETAIN))
    title = f"‖w − w_{to}‖" + (f" / ‖w_{to}‖" if normalized else "₂")
    return charts.style(fig, height=380, barmode="group", xaxis=dict(title="layer", tickangle=-45),
                        yaxis=dict(title=title, type="log"))


def all_figures(result: Comparison) -> dict[str, go.Figure]:
    figs = {
        "accuracy": method_bars(result, [("forget_acc", "A_Df (forget)", FORGET), ("retain_acc", "A_Dr (retain)",
                                                                                   RETAIN)],
                                "test accuracy (%)", y_range=[0, 115]),
        "tradeoff": tradeoff(result),
        "time": method_bars(result, [("wall_s", "wall time", stage_color("original"))], "seconds", log=True,
                            skip_original=True),
        "relearn": relearn_chart(result),
        "privacy": method_bars(result, [("mia_entropy", "MIA entropy", FORGET),
                                        ("mia_confidence", "MIA confidence", RETAIN)],
                               "forget-train images called member (%)", y_range=[0, 115]),
        "to_retrain": method_bars(result, [("act_dist", "activation distance", FORGET), ("js_div", "JS divergence",
                                                                                         RETAIN)],
                                  "distance to the retrained model"),
        "weights_original": layer_chart(result, "original", True),
        "weights_retrain": layer_chart(result, "retrain", True),
    }
    for i, fig in enumerate(distributions(result)):
        figs[f"predictions_{i + 1}"] = fig
    return figs


def figures_html(result: Comparison, figs: dict[str, go.Figure]) -> bytes:
    parts = [f"<html><head><meta charset='utf-8'><title>UNSIR Studio: compare methods</title></head>"
             f"<body style='font-family:sans-serif'><h1>Compare methods</h1><pre>{result.to_markdown()}</pre>"]
    for i, (name, fig) in enumerate(figs.items()):
        parts.append(f"<h2>{name.replace('_', ' ')}</h2>" + fig.to_html(full_html=False, include_plotlyjs=i == 0))
    return ("".join(parts) + "</body></html>").encode()


result: Comparison | None = st.session_state.get(RESULT)
if result is None:
    st.info("No comparison yet in this session: choose the methods above and run them.")
    st.stop()

st.divider()
forgot = ", ".join(result.class_names[c] for c in result.forget)
st.subheader(f"Results: forgetting {forgot}")
st.caption(f"{result.dataset}, {result.arch} on {result.device}; total {jobs.format_seconds(result.total_s)} "
           f"including the measurements. Distances to retrain are measured against: {result.reference}."
           + (" Cancelled: the rows after the cancel did not run." if result.cancelled else ""))
for note in result.notes:
    st.caption("• " + note)
for r in result.rows:
    if not r.ok:
        st.error(f"**{r.title}**: {r.status}")

frame = result.to_frame(headers=True)
reads = next(c.header for c in COLUMNS if c.key == "reads_forget")
frame[reads] = ["" if v is None else ("yes" if v else "no") for v in frame[reads]]
TEXT = ("title", "status", "reads_forget", "relearn_epochs")
ONE_DECIMAL = ("forget_acc", "retain_acc", "test_acc", "wall_s", "mia_entropy", "mia_confidence")


def column_help(c) -> str:
    return c.help + {"lower": " Lower is better.", "higher": " Higher is better.",
                     "retrain": " Closer to Retrain is better."}.get(c.better, "")


formats = {c.header: st.column_config.NumberColumn(c.header, help=column_help(c),
                                                   format="%.1f" if c.key in ONE_DECIMAL else "%.3f")
           for c in COLUMNS if c.key not in TEXT}
formats.update({c.header: st.column_config.Column(c.header, help=column_help(c)) for c in COLUMNS if c.key in TEXT})
st.dataframe(frame, hide_index=True, width="stretch", column_config=formats, key="cmp:table")

with st.container(border=True):
    st.markdown("**How the privacy columns are measured** (papers disagree on the variant, so both are shown):")
    for variant, text in MIA_VARIANTS.items():
        st.markdown(f"- **MIA {variant}**: {text} The column is the % called *member*: the retrained model shows "
                    "what \"never seen\" looks like.")
    st.markdown("- **ZRF**: " + next(c.help for c in COLUMNS if c.key == "zrf")
                + " **Activation distance / JS divergence**: to the retrained model, on forget test images.")
with st.expander("Every column defined"):
    st.markdown("\n".join(f"- **{c.header}**: {c.help}" + (f" *Better: {c.better}.*" if c.better else "")
                          for c in COLUMNS))

figs = all_figures(result)
st.markdown("**Forgetting against retaining.** The retrained model (star) is the target: low A_Df, high A_Dr. "
            "The marker area grows with the wall time.")
ui.figure(figs["tradeoff"], key="cmp-tradeoff")
left, right = st.columns(2)
with left:
    st.markdown("**A_Df and A_Dr per method**")
    ui.figure(figs["accuracy"], key="cmp-accuracy")
    st.markdown("**Relearn time** (higher = the knowledge is really gone)")
    ui.figure(figs["relearn"], key="cmp-relearn")
    st.markdown("**Distance to the retrained model** on forget test images (lower = closer to the gold standard)")
    ui.figure(figs["to_retrain"], key="cmp-to-retrain")
with right:
    st.markdown("**Wall time** (log scale)")
    ui.figure(figs["time"], key="cmp-time")
    st.markdown("**Membership inference** on forget-class training images")
    ui.figure(figs["privacy"], key="cmp-privacy")
    st.markdown("**ZRF**")
    ui.figure(method_bars(result, [("zrf", "ZRF", stage_color("repair"))], "ZRF (1 = as uninformed as random)",
                          y_range=[0.3, 1.05]), key="cmp-zrf")

st.markdown("**Where the forget-class test images go.** Predicted classes per method; a spike on one retain class "
            "can leak that something was removed (compare with the retrained model).")
for i, name in enumerate(k for k in figs if k.startswith("predictions_")):
    ui.figure(figs[name], key=f"cmp-{name}")

to = st.radio("Layer-wise weight distance to", ["original", "retrain"], horizontal=True, key="cmp:layers-to")
normalized = st.toggle("Normalised by the reference's weight norm", value=True, key="cmp:layers-norm")
ui.figure(layer_chart(result, to, normalized), key="cmp-layers")

st.markdown("**Downloads**")
d1, d2, d3, d4 = st.columns(4)
d1.download_button("Table and details (JSON)", strict_json.dumps(result.to_json()).encode(),
                   "compare.json", "application/json", on_click="ignore", icon=":material/download:",
                   width="stretch")
d2.download_button("Table (CSV)", result.to_csv().encode(), "compare.csv", "text/csv", on_click="ignore",
                   icon=":material/download:", width="stretch")
d3.download_button("Table (Markdown)", result.to_markdown().encode(), "compare.md", "text/markdown",
                   on_click="ignore", icon=":material/download:", width="stretch")
d4.download_button("Figures (HTML)", figures_html(result, figs), "compare.html", "text/html", on_click="ignore",
                   icon=":material/download:", width="stretch")
with st.expander("Settings each method ran with"):
    st.json({r.title: r.settings for r in result.rows if r.settings}, expanded=False)
