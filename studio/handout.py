"""What a run gives to people who were not at the keyboard: its summary in words, the printable reports (a run,
two runs compared, with what changed in words), and the result a shared link carries (re-run it, and see the
link's numbers beside the new ones)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from unsir_core.common.escaping import md
from unsir_core.common.numbers import fixed, pct, rounded
from unsir_core.metrics.closeness import js_to_retrained
from unsir_core.report.html import render, render_comparison
from unsir_core.report.share import RESULT_KEYS, decode_result, encode_result, headline
from unsir_core.report.summary import summarize

from . import jobs, loaders, nav, runs, state
from .runs import RunRecord
from .setup import KNOBS, Setup

SHARED = "shared_result"  # session key: (setup, numbers) of the result a link carried


JS_DIGITS = 5  # decimals a JS divergence is stored with (as Compare's)


def measure_closeness(record: RunRecord) -> None:
    """JS divergence of the original's and the unlearned model's outputs to the retrained model's on the forget
    test images, into the run's audits once (a forward pass over a few hundred images: no job needed)."""
    models = record.models()
    if "closeness" in record.audits or "retrain" not in models:
        return
    data = loaders.data(record.setup.dataset)
    forget = data.resolve_classes(record.report["forgotten_total"])
    found = {
        stage: {"js": round(js_to_retrained(models[stage], models["retrain"], data, forget), JS_DIGITS)}
        for stage in ("original", "repair")
    }
    record.audits = {**record.audits, "closeness": found}


def summary_box(record: RunRecord) -> None:
    """The run in a few sentences, the verdict first, from its audits too (a warning box when the collapse guard
    flagged it)."""
    measure_closeness(record)
    (st.warning if record.report.get("degraded") else st.info)(
        md(summarize(record.report, audits=record.audits)), icon=":material/summarize:"
    )


def base_url() -> str:
    """The dashboard's own address, for the report's reproduce-link."""
    url = st.context.url or "http://localhost:8501/"
    return url.split("?")[0].rsplit("/", 1)[0] + "/"


def report_html(record: RunRecord, url: str) -> bytes:
    """The printable report of a run (see unsir_core.report.html), with its views (computed now if missing)."""
    from .embedding_views import record_views

    record_views(record)
    return render(record.report, url, title=f"Unlearning report: {record.title}", audits=record.audits).encode()


def setting_label(name: str) -> str:
    """A knob's dotted name in words: "impair.lr" -> "impair lr"."""
    return {
        "retain_per_class": "retain per class",
        "noise.batch_size": "noise batch",
        "noise.l2_weight": "noise λ",
    }.get(name, name.replace(".", " ").replace("_", " "))


def value_words(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def setup_changes(a: RunRecord, b: RunRecord) -> list[str]:
    """What differs between the setups of two runs, in words: 'impair lr 0.01 → 0.02'."""
    sa, sb = a.setup, b.setup
    pairs = {
        "data set": (sa.dataset, sb.dataset),
        "architecture": (sa.arch, sb.arch),
        "checkpoint": (a.model_name, b.model_name),
        "forget": (", ".join(sa.forget), ", ".join(sb.forget)),
        "already forgotten": (", ".join(sa.forgotten_before) or "nothing", ", ".join(sb.forgotten_before) or "nothing"),
        "preset": (sa.preset, sb.preset),
        "retrained model": (sa.retrain, sb.retrain),
    }
    pairs.update({setting_label(name): (sa.get(name), sb.get(name)) for name in KNOBS})
    return [f"{label} {value_words(x)} → {value_words(y)}" for label, (x, y) in pairs.items() if x != y]


def comparison_html(a: RunRecord, b: RunRecord, url: str) -> bytes:
    """The printable comparison of two runs (see unsir_core.report.html)."""
    with_audits = [{**r.report, "audits": r.audits} for r in (a, b)]  # each summary reads its run's audits
    return render_comparison(*with_audits, (a.title, b.title), setup_changes(a, b), url).encode()


def remember_shared(query: dict[str, str], setup: Setup) -> None:
    """On the first run of a session: keep the result a link carries (if any) for `shared_box`."""
    numbers = decode_result(query.get("result", ""))
    if numbers is not None:
        st.session_state[SHARED] = (setup, numbers)


def result_query() -> dict[str, str]:
    """The `result` parameter the address bar should carry: the newest run of the current setup's request,
    else the shared link's numbers while its setup is still the current one."""
    setup = state.setup()
    record = next((r for r in reversed(runs.history()) if runs.same_request(r.setup, setup)), None)
    if record is not None:
        return {"result": encode_result(headline(record.report))}
    shared = st.session_state.get(SHARED)
    if shared is not None and shared[0] == setup:
        return {"result": encode_result(shared[1])}
    return {}


def shared_box(key: str) -> None:
    """The result a link carried: a re-run button, then its numbers beside the re-run's."""
    shared = st.session_state.get(SHARED)
    if shared is None or shared[0] != state.setup():
        return
    setup, numbers = shared
    record = next((r for r in reversed(runs.history()) if runs.same_request(r.setup, setup)), None)
    after = f" after forgetting {md(', '.join(setup.forgotten_before))}" if setup.chain else ""
    with st.container(border=True):
        st.markdown(
            f"**This link shares a result**: forget {md(', '.join(setup.forget))}{after}, seed "
            f"{setup.config.seed}: A_Df {pct(numbers['odf'])} → {pct(numbers['df'])}, A_Dr "
            f"{pct(numbers['odr'])} → {pct(numbers['dr'])} in {fixed(numbers['t'], 1)} s of unlearning."
        )
        if record is None:
            if st.button(
                "Re-run this",
                key=key,
                type="primary",
                icon=":material/replay:",
                disabled=jobs.busy(),
                help="Runs the same request (the earlier ones of its chain first) with the same settings "
                "and seed, and shows the link's numbers beside the new ones.",
            ):
                runs.request(setup)
                st.switch_page(nav.OVERVIEW.path)  # the page that runs it, with live progress
            return
        import pandas as pd  # not at import time: the first page renders without it (0.6 s)

        mine = headline(record.report)
        table = pd.DataFrame(
            [
                {
                    "": RESULT_KEYS[k],
                    "in the link": numbers[k],
                    f"run {record.id}": mine[k],
                    "difference": mine[k] - numbers[k],
                }
                for k in RESULT_KEYS
            ]
        )
        table[table.columns[1:]] = table[table.columns[1:]].map(lambda v: rounded(v, 2))
        st.dataframe(table, hide_index=True, key=f"{key}-table")
        st.caption(
            "Same settings and seed: the accuracies should match to within run-to-run noise (exactly on the "
            "same kind of device); the time depends on the machine."
        )
