import streamlit as st

from studio import audit_views, captions, images, jobs, loaders, nav, ui
from studio.palette import FORGET, RETAIN, stage_color, stage_title
from unsir_core.common.device import DEVICE_LOCK
from unsir_core.common.escaping import md
from unsir_core.explain import METHODS, heatmaps, overlay
from unsir_core.metrics.evaluate import predict_logits

ui.header(
    nav.GRADCAM,
    """
Class activation maps show which pixels a model uses as evidence for a class. Compare the **original**,
the **unlearned** model (after repair) and the **retrained** gold standard on the same test images: a
forget-class image should lose the evidence for its class, while a retain-class image should look the same.
""",
)
record = ui.pick_run("gradcam-run", need_models=True)
if record is None:
    st.stop()
busy = jobs.busy()
data = loaders.data(record.setup.dataset)
names, forget = record.class_names, record.forget
models = {s: m for s, m in record.models().items() if s != "impair"}

TITLES = {"gradcam": "GradCAM", "gradcam++": "GradCAM++", "eigencam": "EigenCAM"}
group_col, class_col, count_col, method_col = st.columns([2, 2, 2, 3])
group = group_col.radio(
    "Images from",
    ["forget classes", "retain classes"],
    key="cam-group",
    disabled=busy,
    help="Forget-class images show what was unlearned; retain-class images show what should stay.",
)
choices = (
    sorted(forget, key=lambda c: names[c] not in record.setup.forget)  # this request's classes first
    if group == "forget classes"
    else [c for c in range(len(names)) if c not in forget]
)
cls = class_col.selectbox(
    "Class",
    choices,
    format_func=lambda c: names[c],
    key="cam-class",
    disabled=busy,
    help="The test images are the first ones of this class in the test split.",
)
count = count_col.slider(
    "Images", 1, 8, 4, key="cam-count", disabled=busy, help="How many test images of the class to explain."
)
method = method_col.radio(
    "Method",
    list(METHODS),
    format_func=TITLES.get,
    horizontal=True,
    key="cam-method",
    disabled=busy,
    help="GradCAM and GradCAM++ weight the feature maps by the gradient of the "
    "explained class; EigenCAM uses their first principal component and ignores the class.",
)
explain_pred = st.toggle(
    "Explain each model's own prediction instead of the true class",
    key="cam-pred",
    disabled=busy,
    help="Off: every map shows the evidence for the image's true class. On: each "
    "map shows the evidence for the class that model predicts.",
)

idx = images.class_indices(data, cls, count)
x = data.test_x[idx]
with DEVICE_LOCK:
    probs = {s: predict_logits(m, x).softmax(1).cpu() for s, m in models.items()}
    maps = {
        s: heatmaps(m, x, probs[s].argmax(1).tolist() if explain_pred else [cls] * len(idx), method)
        for s, m in models.items()
    }

color = FORGET if cls in forget else RETAIN
stages = [*models, *([] if "retrain" in models else ["retrain"])]  # an empty column says what is missing
if "retrain" not in models:
    st.caption(
        "No retrained model in this run: no stored reference matches its forget set and settings; tick "
        "*Also train the retrained model* on Impair and repair to see the gold standard's maps too."
    )
head = st.columns(1 + len(stages))
head[0].markdown(f"**Image** <span style='color:{color}'>({md(names[cls])})</span>", unsafe_allow_html=True)
for col, stage in zip(head[1:], stages):
    col.markdown(f"<b style='color:{stage_color(stage)}'>{stage_title(stage)}</b>", unsafe_allow_html=True)
for row in range(len(idx)):
    cols = st.columns(1 + len(stages))
    cols[0].image(images.framed(images.upscale(images.to_rgb(x[row]), 160), color), width=168)
    for col, stage in zip(cols[1:], models):
        conf, pred = probs[stage][row].max(0)
        col.image(
            images.framed(images.upscale(overlay(x[row], maps[stage][row]), 160), stage_color(stage)),
            width=168,
            caption=f"predicts {md(names[int(pred)])} ({float(conf):.0%}); "
            f"p({md(names[cls])}) = {float(probs[stage][row, cls]):.0%}",
        )
st.caption(md(captions.gradcam_caption(names, cls, cls in forget, probs, maps)))
audit_views.reference_notice(record)
