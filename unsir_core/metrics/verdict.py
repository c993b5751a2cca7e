"""One verdict that reads all the evidence: how close the unlearned model is to the retrained one, question by
question. The summary of a run, the Results page, Compare, the CSV exports and the HTML report all phrase it here.

The question is "how close to the retrained model" (the gold standard, trained without the forget classes),
not "how low". Five questions, each answered from its own measure of the unlearned model, the original and
the retrained model:

- forgotten in the decision: A_Df;
- forgotten in the features: the feature probe's accuracy on the forget-class test images;
- against relearning: epochs of fine-tuning until the forget accuracy is back (the original: 0);
- for privacy: the worst-case privacy score against the retrained model (the retrained model: 1), with the
  membership attack's member rate when it was run;
- at what cost to the rest: A_Dr.

Each measure gets a standing (`standing`): like the retrained model (within `TOLERANCE`), nearer it than the
original, no nearer than the original, or over-forgotten: past the retrained model and further from it than the
original was. A question whose audit was not computed says "not measured"; none is guessed. Pure: no torch.
"""

from __future__ import annotations

from dataclasses import dataclass

from unsir_core.common.numbers import pct, score, share
from unsir_core.metrics.closeness import tow

FORGOTTEN_BELOW = 5.0  # A_Df (%) under which a class counts as forgotten when there is no retrained model
TOLERANCE = {"pct": 5.0, "epochs": 1.0, "score": 0.05}  # |unlearned - retrained| that still counts as "like it"
STANDINGS = ("retrained", "closer", "original", "over", "unknown")  # see `standing`
QUESTIONS = {
    "decision": "in the decision",
    "features": "in the features",
    "relearning": "against relearning",
    "privacy": "for privacy",
    "cost": "at what cost to the rest",
}  # question key -> its words
AUDIT_OF = {
    "features": "the feature probe",
    "relearning": "relearn time",
    "privacy": "the privacy score or membership inference",
}  # the audit that answers a question (the decision and the cost are always measured)
LEADS = {
    "decision": {
        "retrained": "Forgotten in the decision",
        "closer": "Partly forgotten in the decision",
        "original": "Not forgotten in the decision",
        "over": "Over-forgotten in the decision",
        "unknown": "In the decision",
    },
    "features": {
        "retrained": "Forgotten in the features too",
        "closer": "Partly forgotten in the features",
        "original": "Still in the features",
        "over": "Over-forgotten in the features",
        "unknown": "In the features",
    },
    "relearning": {
        "retrained": "As slow to relearn as the retrained model",
        "closer": "Slower to relearn than the original",
        "original": "Relearned as fast as the original",
        "over": "Over-forgotten against relearning",
        "unknown": "Against relearning",
    },
    "privacy": {
        "retrained": "For privacy, like the retrained model",
        "closer": "For privacy, nearer the retrained model",
        "original": "For privacy, no nearer the retrained model than the original",
        "over": "Over-forgotten for privacy",
        "unknown": "For privacy",
    },
    "cost": {
        "retrained": "The rest kept like in the retrained model",
        "closer": "The rest nearer the retrained model",
        "original": "The rest as in the original",
        "over": "Over-forgotten on the rest",
        "unknown": "The rest",
    },
}
RELATION = {
    "retrained": "like the retrained model",
    "closer": "nearer the retrained model than the original, not yet like it",
    "original": "like the original, no nearer the retrained model",
    "over": "over-forgetting: past the retrained model and further from it than the original",
    "unknown": "no retrained model to compare with",
}
PRIVACY_BLIND_SPOT = (
    "Why the original can score high: the attack sees only how confident a model is on each forget image (its "
    "entropy or its top probability), never which class it names. The retrained model often names a look-alike "
    "class with high confidence, so an original that names the forget class just as confidently looks alike to "
    "this attack. Read the privacy score together with A_Df and the feature probe."
)
CONFIDENCE_ONLY = (
    "the privacy score reads only how confident a model is on the forget images, not which class it names, so "
    "a model that still names the class with the retrained model's confidence scores high: read it with the "
    "decision"
)


@dataclass(frozen=True)
class Measure:
    """One figure of the unlearned model next to the original's and the retrained model's."""

    unlearned: float  # the unlearned model's figure
    original: float | None  # the original's (None: not measured)
    retrained: float | None  # the retrained model's (None: no retrained model)
    kind: str = "pct"  # "pct" (%), "epochs" or "score": how it is shown and its TOLERANCE
    capped: frozenset[str] = frozenset()  # "unlearned", "original", "retrained": a lower bound (a cap ran out)

    def show(self, who: str) -> str:
        value = getattr(self, who)
        if self.kind == "pct":
            return pct(value)
        if self.kind == "epochs":
            return f"{'>' if who in self.capped else ''}{value:.0f}"
        return score(value)

    def context(self) -> str:
        """'original 93.5%, retrained model 0%' (what was measured)."""
        labels = (("original", "original"), ("retrained", "retrained model"))
        return ", ".join(f"{label} {self.show(who)}" for who, label in labels if getattr(self, who) is not None)


def standing(m: Measure) -> str:
    """Where the unlearned model stands on `m`: "retrained" (within TOLERANCE of the retrained model),
    "over" (on the other side of the retrained model from the original, and further from it than the original),
    "closer" (nearer the retrained model than the original), "original" (no nearer), "unknown" (no retrained
    model, or no original to compare with)."""
    if m.retrained is None or m.original is None:
        return "unknown"
    gap, start = m.unlearned - m.retrained, m.original - m.retrained
    u_capped, r_capped = "unlearned" in m.capped, "retrained" in m.capped
    tolerance = TOLERANCE[m.kind]
    if (u_capped and r_capped) or (abs(gap) <= tolerance and not (u_capped or r_capped)):
        return "retrained"  # both past the cap, or within the tolerance of each other
    if gap * start < 0 and abs(gap) > abs(start):
        return "over"
    if abs(m.unlearned - m.original) <= tolerance or abs(gap) >= abs(start):
        return "original"  # where the original was, or no nearer the retrained model
    return "closer"


@dataclass(frozen=True)
class Evidence:
    """Everything the verdict reads; None where the audit was not computed."""

    forget: str  # the forgotten classes in words ("triangles and stars")
    decision: Measure  # A_Df, %
    cost: Measure  # A_Dr, %
    test: Measure | None = None  # accuracy on all test images, % (for ToW)
    features: Measure | None = None  # the feature probe's accuracy on forget-class test images, %
    relearning: Measure | None = None  # epochs until relearned (the original: 0)
    privacy: Measure | None = None  # the privacy score against the retrained model (the retrained model: 1)
    membership: Measure | None = None  # % of forget-class training images the membership attack calls member
    membership_at_chance: bool = False  # the attack cannot tell members from non-members on these models
    js: Measure | None = None  # JS divergence to the retrained model on forget test images (the retrained: 0)


@dataclass(frozen=True)
class Clause:
    key: str  # a QUESTIONS key
    measured: bool  # False: its audit was not computed
    standing: str  # a STANDINGS value ("" when not measured)
    text: str  # the sentence

    @property
    def question(self) -> str:
        return QUESTIONS[self.key]


def _sentence(key: str, m: Measure, what: str, context: str | None = None) -> tuple[str, str]:
    """(standing, "Lead: what (context): relation.") for the question `key` on the measure `m`."""
    s = standing(m)
    context = m.context() if context is None else context
    text = f"{LEADS[key][s]}: {what} ({context})" if context else f"{LEADS[key][s]}: {what}"
    if s != "retrained" and key != "cost":
        text += f": {RELATION[s]}"
    return s, text + "."


def _decision(e: Evidence) -> Clause:
    s, text = _sentence("decision", e.decision, f"A_Df {e.decision.show('unlearned')} on {e.forget}")
    if s == "unknown":  # no gold standard: say how low, and that it is all that can be said
        m = e.decision
        low = m.original is not None and m.unlearned < m.original - TOLERANCE["pct"]
        lead = LEADS["decision"]["retrained" if m.unlearned < FORGOTTEN_BELOW else "closer" if low else "original"]
        text = lead + text.removeprefix(LEADS["decision"]["unknown"])
    return Clause("decision", True, s, text)


def _features(e: Evidence) -> Clause:
    if e.features is None:
        return Clause("features", False, "", "")
    what = f"a linear probe on its features recognises {e.features.show('unlearned')} of {e.forget}"
    s, text = _sentence("features", e.features, what)
    if s == "original" and standing(e.decision) in ("retrained", "closer"):
        text = text[:-1] + ", so the class left the decision, not the features."
    return Clause("features", True, s, text)


def _relearning(e: Evidence) -> Clause:
    if e.relearning is None:
        return Clause("relearning", False, "", "")
    s, text = _sentence("relearning", e.relearning, f"{e.relearning.show('unlearned')} epochs to relearn {e.forget}")
    return Clause("relearning", True, s, text)


def _privacy(e: Evidence) -> Clause:
    if e.privacy is None and e.membership is None:
        return Clause("privacy", False, "", "")
    s, parts = "unknown", []
    if e.privacy is not None:
        original = f"original {e.privacy.show('original')}; " if e.privacy.original is not None else ""
        context = original + "1 = indistinguishable from the retrained model"
        s, text = _sentence("privacy", e.privacy, f"privacy score {e.privacy.show('unlearned')}", context)
        parts.append(text)
        if e.privacy.original is not None and e.privacy.original >= e.privacy.unlearned - TOLERANCE["score"]:
            parts.append(f"The original scores {e.privacy.show('original')} too: {CONFIDENCE_ONLY}.")
    if e.membership is not None:
        rate = e.membership.show("unlearned")
        if e.membership_at_chance:
            parts.append(f"The membership attack is at chance on these models: its member rate ({rate}) says nothing.")
        else:
            ms, text = _sentence(
                "privacy", e.membership, f"the membership attack calls {rate} of the forget images members"
            )
            s = s if e.privacy is not None else ms
            parts.append(text)
    return Clause("privacy", True, s, " ".join(parts))


def _cost(e: Evidence) -> Clause:
    m = e.cost
    s, text = _sentence("cost", m, f"A_Dr {m.show('unlearned')}")
    if m.original:
        text = text[:-1] + f", {share(m.unlearned / m.original)} of the original's kept."
    if s == "over":
        text = text[:-1] + f": {RELATION['over']}."
    return Clause("cost", True, s, text)


@dataclass(frozen=True)
class Verdict:
    clauses: tuple[Clause, ...]  # one per QUESTIONS key, in that order
    tow: float | None  # ToW of the unlearned model (None: no retrained model; see metrics.closeness)
    tow_original: float | None  # ToW of the original, for scale
    js: float | None  # JS divergence to the retrained model (None: not measured)
    js_original: float | None  # the original's

    def clause(self, key: str) -> Clause:
        return next(c for c in self.clauses if c.key == key)

    @property
    def over(self) -> list[str]:
        """The questions on which the unlearned model is over-forgotten."""
        return [QUESTIONS[c.key] for c in self.clauses if c.standing == "over"]

    def headline(self) -> list[str]:
        """The first two sentences: the decision, then the features when probed (else the first other finding
        that is not like the retrained model)."""
        rest = [c for c in self.clauses[1:] if c.measured]
        second = next((c for c in rest if c.key == "features"), None) or next(
            (c for c in rest if c.standing in ("original", "over")), None
        )
        return [self.clauses[0].text] + ([second.text] if second else [])

    def details(self) -> list[str]:
        """The measured clauses after the headline, in question order."""
        first = self.headline()
        return [c.text for c in self.clauses if c.measured and c.text not in first]

    def not_measured(self) -> str | None:
        """'Not measured: in the features (the feature probe), ...' or None when every audit was computed."""
        missing = [f"{QUESTIONS[c.key]} ({AUDIT_OF[c.key]})" for c in self.clauses if not c.measured]
        return f"Not measured: {', '.join(missing)}." if missing else None

    def closeness(self) -> str | None:
        """ToW and JS in one sentence, defined in place (None without a retrained model)."""
        if self.tow is None:
            return None
        scale = "1 = the retrained model's accuracies on forget, retain and test images"
        text = f"Closeness to the retrained model: ToW {score(self.tow)} (original {score(self.tow_original)}; {scale})"
        if self.js is not None:
            original = f", original {score(self.js_original)}" if self.js_original is not None else ""
            text += f", JS divergence of the outputs on the forget images {score(self.js)} (0 = the same{original})"
        return text + "."


def tow_of(e: Evidence, who: str) -> float | None:
    """ToW of the unlearned model (`who`="unlearned") or the original against the retrained model (None without
    one, or without test accuracy)."""
    measures = (e.decision, e.cost, e.test)
    if any(m is None or m.retrained is None or getattr(m, who) is None for m in measures):
        return None
    return tow([getattr(m, who) for m in measures], [m.retrained for m in measures])


def verdict(e: Evidence) -> Verdict:
    """The verdict on `e`: a clause per question, ToW and JS."""
    clauses = (_decision(e), _features(e), _relearning(e), _privacy(e), _cost(e))
    js, js_original = (e.js.unlearned, e.js.original) if e.js is not None else (None, None)
    return Verdict(clauses, tow_of(e, "unlearned"), tow_of(e, "original"), js, js_original)
