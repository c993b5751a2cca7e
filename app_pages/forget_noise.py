import streamlit as st

from studio import captions, charts, images, jobs, loaders, nav, noise, runs, state, ui
from studio.palette import FORGET, RETAIN
from unsir_core.common.escaping import md

ui.header(
    nav.NOISE,
    """
Choose the **forget set**: the classes the model must unlearn; every other class is a **retain** class.
UNSIR's first step learns **error-maximizing noise** for each forget class: a batch of inputs on which the
frozen model is as wrong as possible about that class, kept small by an L2 penalty λ. No forget-class image
is read to make it.
""",
)
data, model = ui.require_model()
setup = state.setup()
busy = jobs.busy()

unknown = [c for c in setup.forget if c not in data.class_names]
if unknown:
    state.set_setup(setup.with_value("forget", [c for c in setup.forget if c in data.class_names]))
    st.warning(f"{md(data.name)} has no class {md(', '.join(unknown))}; it was removed from the forget set.")
    setup = state.setup()

gone = set(model.info.forgotten) | {data.class_names.index(c) for c in setup.forgotten_before if c in data.class_names}
again = [c for c in setup.forget if data.class_names.index(c) in gone]
if again:
    state.set_setup(setup.with_value("forget", [c for c in setup.forget if c not in again]))
    st.warning(
        f"{md(', '.join(again))} {'is' if len(again) == 1 else 'are'} already forgotten by the model this "
        "request starts from; removed from the forget set (forgetting it again would only cost retain "
        "accuracy)."
    )
    setup = state.setup()


def check_forget(candidate) -> None:
    if candidate.forget:
        loaders.data(candidate.dataset).forget_classes(candidate.forget, sorted(gone))


if gone:
    start = (
        f"the unlearned model of the earlier request{'s' if len(setup.chain) > 1 else ''}"
        if setup.chain
        else f"{md(loaders.model_path(setup).stem)}"
    )
    st.info(
        f"This request starts from {start}, which already forgot "
        f"**{md(', '.join(data.class_names[c] for c in sorted(gone)))}**: those classes stay forgotten and cannot "
        "be chosen again (sequential unlearning).",
        icon=":material/playlist_add_check:",
    )
st.multiselect(
    "Forget classes",
    [c for i, c in enumerate(data.class_names) if i not in gone],
    disabled=busy,
    placeholder="Choose the classes to forget",
    help="The classes to unlearn (the forget set). At least one class must remain to be retained; "
    "classes already forgotten are not offered.",
    **state.bind("forget", check=check_forget),
)
forget = [data.class_names.index(c) for c in setup.forget]
if not forget:
    st.info("The forget set is empty: choose at least one class to forget.")
shown = range(min(data.num_classes, 20))
st.image(
    [
        images.framed(
            images.upscale(images.to_rgb(data.test_x[images.class_indices(data, c, 1)[0]]), 72),
            FORGET if c in forget else "#8C8C99" if c in gone else RETAIN,
        )
        for c in shown
    ],
    caption=[("✕ " if c in forget else "✓ forgotten: " if c in gone else "") + md(data.class_names[c]) for c in shown],
    width=80,
)

st.subheader("Noise settings")
cols = st.columns(4)
for col, name in zip(cols, ("noise.batch_size", "noise.steps", "noise.lr", "noise.l2_weight")):
    with col:
        ui.knob(name)
st.caption(
    f"Seed {setup.config.seed} (set on the Impair and repair page). The run learns exactly this noise again "
    "from the same seed, so what you see here is what impair uses."
)
starting = runs.starting_model(setup)
if starting is None:
    st.caption(
        "The starting model of this request (the result of the earlier requests) is not in this session yet: "
        "running UNSIR on Impair and repair makes it first. The noise can be previewed after that."
    )
st.button(
    "Optimize noise",
    type="primary",
    icon=":material/blur_on:",
    key="optimize-noise",
    disabled=busy or not forget or starting is None,
    on_click=noise.request,
    args=(setup,),
    help="Learn the noise on a frozen copy of the model this request starts from, with a live loss curve.",
)
noise.execute()

preview = noise.current(setup) if forget else None
if preview is None:
    st.stop()
n = preview.noise
cols = st.columns(3)
cols[0].metric(
    "Noise images",
    f"{len(n.images):,}",
    border=True,
    help="Noise samples per forget class times the number of forget classes.",
)
cols[1].metric(
    "Noise norm (mean L2)",
    f"{n.l2_norm:.1f}",
    border=True,
    help="Per-image L2 norm in the model's normalised input space: the term λ keeps small.",
)
cols[2].metric(
    "Model's cross-entropy on it",
    f"{n.forget_ce:.2f}",
    border=True,
    help="How wrong the frozen model is on the noise for its forget-class labels: higher = more error-maximizing.",
)
st.markdown("**Noise objective per step**: −CE(f(N), y_f) + λ·mean‖N‖²; falling means the model grows more wrong.")
ui.figure(charts.noise_loss(n.loss_history), key="noise-loss")

st.markdown(
    "**The noise of each forget class** (stretched per image to be visible), with the original model's "
    "prediction and confidence on it, and its L2 norm."
)
labels = n.labels.cpu()
per_class = 6
for c in forget:
    idx = (labels == c).nonzero().flatten()[:per_class]
    pics = images.noise_for_display(n.images[idx.to(n.images.device)], model.info.mean, model.info.std, 128)
    probs = preview.probs[idx]
    conf, pred = probs.max(1)
    norms = n.images[idx.to(n.images.device)].flatten(1).norm(dim=1).tolist()
    st.markdown(f"<span style='color:{FORGET}'>■</span> **{md(data.class_names[c])}**", unsafe_allow_html=True)
    st.image(
        pics,
        width=128,
        caption=[
            f"{md(data.class_names[p])} {q:.0%} · ‖N‖ {v:.1f}" for p, q, v in zip(pred.tolist(), conf.tolist(), norms)
        ],
    )
    st.caption(md(captions.noise_caption(data.class_names, c, preview.probs[labels == c])))
ui.link(nav.UNLEARN, "Next: impair and repair")
