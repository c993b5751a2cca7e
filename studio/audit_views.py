"""The Results page's audit views: relearn time, membership inference with its own accuracy, the privacy
score against the retrained model, the feature probe, and where the retrained reference came from.

Every audit reads forget-class images after the fact (unlearning never does); each view says so and
shows only what was computed: a missing audit is a button, never a zero.
"""

from __future__ import annotations

import streamlit as st

from unsir_core.common.escaping import md
from unsir_core.metrics.privacy import CHANCE, MIA_SAMPLES, MIA_VARIANTS
from unsir_core.metrics.relearn import RELEARN_SHARE, crossing
from unsir_core.metrics.retrain_privacy import DEFINITION as PRIVACY_DEFINITION

from . import audits, ui
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
        + f"; its A_Dr is {ref['strength']:.0%} of the original's."
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
            help=f"The first epoch at which the curve below reaches {RELEARN_SHARE:.0%} of the original's "
            f"forget accuracy ({result['target']:.1f}%); '>' means it did not within the maximum.",
        )
    st.caption(
        f"Relearned = forget accuracy back at {RELEARN_SHARE:.0%} of the original's on the same probe "
        f"({result['target']:.1f}%, dotted line); the number is where each curve first crosses it."
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
        f"(chance {CHANCE:.0f}%): "
        + ", ".join(
            f"{stage_title(s).lower()} {r['attack_acc']:.1f}% (95% {r['acc_low']:.1f}-{r['acc_high']:.1f}%, "
            f"AUC {r['attack_auc']:.2f})"
            for s, r in result.items()
        )
        + "."
    )
    at_chance = [stage_title(s) for s, r in result.items() if r["at_chance"]]
    if at_chance:
        st.info(
            f"**At chance on {', '.join(at_chance)}**: the attack's 95% interval on held-out data includes "
            f"{CHANCE:.0f}%, so it cannot tell members from non-members there. On these models the member rate "
            "carries no information: it is not a finding about privacy.",
            icon=":material/info:",
        )


def retrain_privacy(record: RunRecord, disabled: bool) -> None:
    """The Comparator's worst-case privacy score of the original and the unlearned model, defined in place."""
    st.markdown("**Privacy against the retrained model**")
    st.caption(PRIVACY_DEFINITION)
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
        lambda r: f"{r['score']:.3f}",
        lambda r: (
            f"Best attack: {r['feature']} {'>' if r['direction'] == 'above' else '≤'} {r['threshold']:.2f} calls "
            f"'unlearned' (FPR {r['fpr']:.2f}, FNR {r['fnr']:.2f}) on {r['n_images']} forget-class training images."
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
        lambda r: f"{r['forget_acc']:.1f}%",
        lambda r: (
            f"Linear probe on {r['dim']} penultimate features: {r['forget_acc']:.1f}% of {r['n_forget']} forget-class "
            f"test images recognised (retain classes {r['retain_acc']:.1f}%; guessing {r['chance']:.0f}%)."
        ),
    )
    if result:
        st.caption(probe_reading(result))


def probe_reading(result: dict) -> str:
    """One sentence, computed from the figures: forgotten in the head only, or in the features too."""
    if "repair" not in result:
        return ""
    unlearned, original = result["repair"]["forget_acc"], result["original"]["forget_acc"]
    if "retrain" in result:
        retrained = result["retrain"]["forget_acc"]
        if abs(unlearned - retrained) < abs(unlearned - original):
            return (
                f"The unlearned model's features let a linear probe recognise {unlearned:.1f}% of the forget "
                f"images, nearer the retrained model's {retrained:.1f}% than the original's {original:.1f}%: "
                "forgotten in the features too."
            )
        return (
            f"The unlearned model's features still let a linear probe recognise {unlearned:.1f}% of the forget "
            f"images, nearer the original's {original:.1f}% than the retrained model's {retrained:.1f}%: the "
            "class was removed from the decision, not from the features."
        )
    return (
        f"The unlearned model's features still let a linear probe recognise {unlearned:.1f}% of the forget "
        f"images (original {original:.1f}%); no retrained model to compare with."
    )
