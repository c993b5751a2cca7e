"""The Results page's audit views: the verdict that reads them all, relearn time, membership inference with its
own accuracy, the privacy score against the retrained model, the feature probe, and where the retrained reference
came from.

Every audit reads forget-class images after the fact (unlearning never does); each view says so and
shows only what was computed: a missing audit is a button, never a zero.
"""

from __future__ import annotations

import streamlit as st

from unsir_core.common.escaping import md
from unsir_core.common.numbers import fixed, pct, score, share
from unsir_core.metrics.closeness import JS_DEFINITION, TOW_DEFINITION
from unsir_core.metrics.privacy import CHANCE, MIA_SAMPLES, MIA_VARIANTS
from unsir_core.metrics.relearn import RELEARN_SHARE, crossing
from unsir_core.metrics.retrain_privacy import DEFINITION as PRIVACY_DEFINITION
from unsir_core.metrics.verdict import AUDIT_OF, PRIVACY_BLIND_SPOT, Clause
from unsir_core.report.summary import run_verdict

from . import audits, handout, ui
from .figures import run_figures
from .palette import stage_title
from .runs import RunRecord

PROBE_TEXT = (
    "**Feature probe** (an audit: it reads forget-class images after the fact). A linear classifier "
    "(logistic regression) is fitted on each model's penultimate features of 200 training images per "
    "class and scored on the held-out test images. High accuracy on the forget classes means the "
    "features still recognise them and only the head forgot; the retrained model, which never learned "
    "them, shows what generic features give away anyway."
)


def verdict_line(clause: Clause) -> str:
    """A Markdown bullet: the clause with its lead in bold, or its question and "not measured"."""
    if not clause.measured:
        return (
            f"- **{clause.question.capitalize()}**: not measured (compute {AUDIT_OF[clause.key]} under *Audits* below)"
        )
    lead, rest = clause.text.split(": ", 1)
    return f"- **{md(lead)}**: {md(rest)}"


def verdict(record: RunRecord) -> None:
    """The verdict, question by question: each clause from its audit, "not measured" where the audit was not
    computed; then ToW and JS, defined in place."""
    handout.measure_closeness(record)
    found = run_verdict(record.report, record.audits)
    with st.container(border=True, key="results-verdict"):
        st.markdown("**Verdict: how close to the retrained model?**")
        st.markdown("\n".join(verdict_line(c) for c in found.clauses))
        closeness = found.closeness()
        st.caption(
            (md(closeness) + " " if closeness else "No retrained model in this run: ToW and JS need one. ")
            + md(TOW_DEFINITION)
            + " "
            + md(JS_DEFINITION)
        )


def reference_notice(record: RunRecord) -> None:
    """Where the run's retrained model came from, and the under-trained warning when it is one."""
    ref = record.report.get("extras", {}).get("reference")
    if not ref:
        return
    source = (
        "shipped with the project"
        if ref["shipped"]
        else "from the reference store"
        if ref["reused"]
        else "trained for this run and kept in the reference store"
    )
    st.caption(
        f"Retrained gold standard: {source}"
        + (f" ({md(ref['path'].rsplit('/', 1)[-1])})" if ref.get("path") else "")
        + f"; its A_Dr is {share(ref['strength'])} of the original's."
    )
    if ref.get("warning"):
        st.warning(ref["warning"], icon=":material/warning:")


def relearn_cards(result: dict) -> None:
    """One card per model: the first epoch its curve crosses the target line, or '> cap'."""
    curves = {s: v for s, v in result.items() if s not in ("target", "original")}
    for col, (stage, r) in zip(st.columns(len(curves)), curves.items()):
        epoch = crossing(r["history_epochs"], r["history"], result["target"])
        col.metric(
            f"Relearn epochs · {stage_title(stage)}",
            f"> {r['history_epochs'][-1]}" if epoch is None else str(epoch),
            border=True,
            help=f"The first epoch at which the curve below reaches {share(RELEARN_SHARE)} of the original's "
            f"forget accuracy ({pct(result['target'])}); '>' means it did not within the maximum.",
        )
    st.caption(
        f"Relearned = forget accuracy back at {share(RELEARN_SHARE)} of the original's on the same probe "
        f"({pct(result['target'])}, dotted line); the number is where each curve first crosses it."
    )


def membership(record: RunRecord, disabled: bool) -> None:
    """The attack picker and button, then per model the attack's own accuracy next to chance."""
    variant = st.selectbox(
        "Attack",
        list(MIA_VARIANTS),
        key="mia-variant",
        disabled=disabled,
        format_func=lambda v: f"{v} attack",
        help="Which softmax feature the attack reads. "
        "Papers report different variants; the name is shown with the result.",
    )
    st.caption(
        MIA_VARIANTS[variant] + f" {MIA_SAMPLES} members and {MIA_SAMPLES} non-members, half to fit, half "
        "to score the attack; the same data and seed as Compare."
    )
    st.button(
        "Compute membership inference",
        key="mia",
        icon=":material/policy:",
        disabled=disabled,
        on_click=audits.request_mia,
        args=(record.id, variant),
        help="Fits the attack on retain-class training vs. test images, then applies it to the forget-class "
        "training images of each model.",
    )
    result = record.audits.get("mia")
    if not result:
        return
    ui.figure(run_figures(record)["mia"], key="results-mia")
    used = next(iter(result.values()))["variant"]
    st.caption(
        f"{used.capitalize()} attack. Its own accuracy on held-out retain-class members and non-members "
        f"(chance {pct(CHANCE, 0)}): "
        + ", ".join(
            f"{stage_title(s).lower()} {pct(r['attack_acc'])} (95% {fixed(r['acc_low'], 1)}-{pct(r['acc_high'])}, "
            f"AUC {fixed(r['attack_auc'], 2)})"
            for s, r in result.items()
        )
        + "."
    )
    at_chance = [stage_title(s) for s, r in result.items() if r["at_chance"]]
    if at_chance:
        st.info(
            f"**At chance on {', '.join(at_chance)}**: the attack's 95% interval on held-out data includes "
            f"{pct(CHANCE, 0)}, so it cannot tell members from non-members there. On these models the member rate "
            "carries no information: it is not a finding about privacy.",
            icon=":material/info:",
        )


def retrain_privacy(record: RunRecord, disabled: bool) -> None:
    """The Comparator's worst-case privacy score of the original and the unlearned model, defined in place."""
    st.markdown("**Privacy against the retrained model**")
    st.caption(PRIVACY_DEFINITION + " " + md(PRIVACY_BLIND_SPOT))
    has_reference = "retrain" in record.metrics
    st.button(
        "Compute the privacy score",
        key="privacy",
        icon=":material/shield:",
        disabled=disabled or not has_reference,
        on_click=audits.request_privacy,
        args=(record.id,),
        help="Needs the retrained model of the run."
        if not has_reference
        else "Runs the original and the unlearned model on every forget-class training image.",
    )
    if not has_reference:
        st.caption(
            "Not computed: this run has no retrained model (no stored reference matches its forget set "
            "and settings; tick *Also train the retrained model* on Impair and repair)."
        )
        return
    cards(
        record.audits.get("privacy"),
        "Privacy score",
        lambda r: score(r["score"]),
        lambda r: (
            f"Best attack: {r['feature']} {'>' if r['direction'] == 'above' else '≤'} {fixed(r['threshold'], 2)} calls "
            f"'unlearned' (FPR {fixed(r['fpr'], 2)}, FNR {fixed(r['fnr'], 2)}) on {r['n_images']} forget-class "
            "training images."
        ),
    )


def cards(result: dict | None, label: str, value, help_text) -> None:
    """One metric card per model of an audit's result (nothing when it was not computed)."""
    if not result:
        return
    for col, (stage, r) in zip(st.columns(len(result)), result.items()):
        col.metric(
            f"{label} · {stage_title(stage)}" if label else stage_title(stage), value(r), border=True, help=help_text(r)
        )


def probe(record: RunRecord, disabled: bool) -> None:
    """Feature-probe accuracy on the forget classes for the original, unlearned and retrained model."""
    st.markdown("**Feature probe**")
    st.caption(PROBE_TEXT)
    st.button(
        "Compute the feature probe",
        key="probe",
        icon=":material/query_stats:",
        disabled=disabled,
        on_click=audits.request_probe,
        args=(record.id,),
        help="Fits one logistic regression per model on its penultimate features (a few seconds each).",
    )
    result = record.audits.get("probe")
    if result:
        st.markdown("Probe accuracy on the forget-class test images:")
    cards(
        result,
        "",
        lambda r: pct(r["forget_acc"]),
        lambda r: (
            f"Linear probe on {r['dim']} penultimate features: {pct(r['forget_acc'])} of {r['n_forget']} forget-class "
            f"test images recognised (retain classes {pct(r['retain_acc'])}; guessing {pct(r['chance'], 0)})."
        ),
    )
    if result:
        st.caption(md(run_verdict(record.report, record.audits).clause("features").text))
