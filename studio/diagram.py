"""The UNSIR pipeline in one picture, as HTML: theme-neutral (text inherits the theme's colour,
fills are translucent) and responsive (the steps wrap on narrow screens)."""

from __future__ import annotations

from collections.abc import Mapping

from unsir_core.algorithm.recipe import retain_rule
from unsir_core.common.escaping import html

from .captions import impair_story, repair_story
from .palette import FORGET, RETAIN, stage_color

STEPS = (  # (title, body, colour)
    ("Trained model", "Knows all K classes.", stage_color("original")),
    (
        "① Noise",
        "For each forget class, learn a batch N that the <b>frozen</b> model gets as wrong as it can: "
        "maximise CE(f(N), y<sub>f</sub>), keep ‖N‖ small.",
        FORGET,
    ),
    (
        "② Impair",
        "One epoch on the noise (labelled with its forget class) + the retain subset, at a "
        "<b>high</b> learning rate. The method's aim: damage the network, the forget classes most.",
        stage_color("impair"),
    ),
    (
        "③ Repair",
        "Training on the retain subset alone, at a lower rate. The method's aim: retain accuracy "
        "comes back, the forget classes do not.",
        stage_color("repair"),
    ),
    (
        "Unlearned model",
        "A<sub>Df</sub> ≈ 0, A<sub>Dr</sub> ≈ the original's; compare with a model retrained "
        "without the forget classes.",
        stage_color("retrain"),
    ),
)

CSS = """
<style>
.unsir-flow{display:flex;flex-wrap:wrap;align-items:stretch;gap:.4rem;margin:.5rem 0 1rem 0}
.unsir-step{flex:1 1 150px;border-radius:.7rem;padding:.7rem .8rem;border:2px solid var(--c);
  background:color-mix(in srgb,var(--c) 13%,transparent);font-size:.9rem;line-height:1.35}
.unsir-step h4{margin:0 0 .3rem 0;padding:0;font-size:1.02rem;color:var(--c)}
.unsir-arrow{align-self:center;font-size:1.5rem;opacity:.55}
.unsir-data{display:flex;flex-wrap:wrap;gap:.6rem;font-size:.85rem}
.unsir-pill{border-radius:1rem;padding:.2rem .75rem;border:1.5px dashed var(--c);
  background:color-mix(in srgb,var(--c) 10%,transparent)}
</style>
"""


def pipeline(metrics: Mapping[str, Mapping[str, float]] | None = None) -> str:
    """HTML of the three UNSIR steps between the trained and the unlearned model, with the data each reads; with
    a run's `metrics` (stage -> A_Df and A_Dr), the impair and repair boxes say what that run's phases did."""
    said = {}
    if metrics is not None and {"original", "impair", "repair"} <= set(metrics):
        said = {"② Impair": impair_story(metrics), "③ Repair": repair_story(metrics)}
    boxes = [
        f'<div class="unsir-step" style="--c:{c}"><h4>{t}</h4>{b}'
        + (f"<br><i>Latest run: {html(said[t])}</i>" if t in said else "")
        + "</div>"
        for t, b, c in STEPS
    ]
    flow = '<div class="unsir-arrow">→</div>'.join(boxes)
    data = (
        f'<div class="unsir-data"><span class="unsir-pill" style="--c:{RETAIN}">Retain subset D<sub>r,sub</sub>: '
        f"{retain_rule()} (auto recipe), read by ② and ③</span>"
        f'<span class="unsir-pill" style="--c:{FORGET}">Forget-class training data: never read (zero-glance)'
        f"</span></div>"
    )
    return f'{CSS}<div class="unsir-flow">{flow}</div>{data}'
