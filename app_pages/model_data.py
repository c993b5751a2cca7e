import streamlit as st

from studio import charts, images, imports, jobs, loaders, nav, state, training, ui
from studio.palette import FORGET, RETAIN
from studio.setup import train_range
from unsir_core.checkpoints import fetch, roots
from unsir_core.common.config import TrainConfig
from unsir_core.common.errors import UnsirError
from unsir_core.common.escaping import md
from unsir_core.data import DATASETS, dataset_availability
from unsir_core.data.archive import ArchiveLimits
from unsir_core.metrics.chance import model_chance_warning
from unsir_core.models import MODELS, get_spec

ui.header(
    nav.MODEL,
    """
UNSIR starts from a **trained model**: the classifier whose knowledge of some classes is to be removed.
Choose the data set and architecture, then a checkpoint from the model store, your own upload, or one
trained right here. The test accuracy per class below is the baseline the unlearned model is judged against.
""",
)
setup = state.setup()
busy = jobs.busy()

left, right = st.columns(2)
with left:
    datasets = list(DATASETS) + ([setup.dataset] if setup.dataset not in DATASETS else [])
    here = {k: dataset_availability(k) for k in DATASETS}  # file presence only: cheap
    st.selectbox(
        "Data set",
        datasets,
        format_func=lambda k: (
            f"{DATASETS[k].title} · {'ready' if here[k].ready else 'not on this machine'}" if k in DATASETS else k
        ),
        disabled=busy,
        help="Ready: its files are on this machine (Shapes-10 is generated locally). How to get the others "
        "is under the menu.",
        **state.bind("dataset", check=lambda s: loaders.data(s.dataset)),
    )
    if setup.dataset in DATASETS:
        source = here[setup.dataset].source
        st.caption(DATASETS[setup.dataset].description + (f" Ready: {md(source)}." if source else ""))
    missing = {k: a for k, a in here.items() if not a.ready}
    if missing:
        with st.expander(f"How to get the other data sets ({len(missing)} not on this machine)"):
            st.markdown("\n".join(f"- **{DATASETS[k].title}**: {md(a.how)}" for k, a in missing.items()))
with right:
    fast = " and ".join(spec.title for spec in MODELS.values() if spec.cpu_friendly)
    st.selectbox(
        "Architecture",
        list(MODELS),
        format_func=lambda k: MODELS[k].title,
        disabled=busy,
        help=f"The network the checkpoint was trained with. {fast} train in minutes on a CPU; the others want a GPU.",
        **state.bind("arch"),
    )
    st.caption(get_spec(setup.arch).description + (" Fast on a CPU." if get_spec(setup.arch).cpu_friendly else ""))


def stored_label(name: str, by_name: dict) -> str:
    if not name:  # one label whatever the data set and architecture: the browser sends a stale label back as a value
        return "Default for this data set and architecture"
    m = by_name.get(name)
    if m is None:
        return f"{name} (missing or invalid)"
    acc = f"{m.info.test_acc:.1f}%" if m.info.test_acc is not None else "accuracy unknown"
    gone = f" · forgot {', '.join(m.info.class_names[c] for c in m.info.forgotten)}" if m.info.forgotten else ""
    chance = " · near chance" if model_chance_warning(m.info) else ""
    return f"{m.path.stem} · {acc}{chance} · {m.info.origin}{gone} · {'shipped' if m.shipped else 'model store'}"


with st.expander("Your own images: upload a .zip of an image folder", icon=":material/folder_zip:"):
    st.markdown(
        "Zip a folder with **one subfolder of images per class** (the folder names become the class names), "
        "optionally split into `train/` and `test/`. It is checked, unpacked on this server and selected; then "
        "train a model on it with **Train now**."
    )
    limits = ArchiveLimits()
    image_zip = st.file_uploader(
        "Image folder (.zip)",
        type=["zip"],
        disabled=busy,
        key="image-zip",
        help=f"At most {limits.max_zip_bytes // 1024**2} MB ({limits.max_unpacked_bytes // 1024**2} MB unpacked), "
        f"{limits.max_entries:,} files, images at most {limits.max_side:,} px on a side (.png, .jpg, .bmp, .gif, "
        ".webp). No links, nested archives or paths outside the folder. Training resizes images to 32 px.",
    )
    unpacked = st.session_state.get("image-zip-done")  # (file id, refusal or None): each archive is unpacked once
    if image_zip is not None and (unpacked is None or unpacked[0] != image_zip.file_id):
        try:
            with st.spinner("Checking and unpacking the archive…"):
                found = imports.from_image_zip(image_zip.name, image_zip.getvalue())
        except UnsirError as err:
            st.session_state["image-zip-done"] = unpacked = (image_zip.file_id, str(err))
        else:
            st.session_state["image-zip-done"] = (image_zip.file_id, None)
            state.set_setup(setup.with_value("dataset", f"folder:{found.path}"))
            state.notify("success", imports.unpacked_message(image_zip.name, found))
            st.rerun()
    if image_zip is not None and unpacked is not None and unpacked[0] == image_zip.file_id and unpacked[1]:
        st.error(md(unpacked[1]))

has_model = bool(setup.model) or bool(loaders.stored_models(setup))
tab_names = ["Model store", "Upload", "Path or URL", "Train now"]
if not has_model:  # a new data set (an uploaded folder): training comes first
    tab_names = tab_names[-1:] + tab_names[:-1]
tabs = dict(zip(tab_names, st.tabs(tab_names)))
store_tab, upload_tab, source_tab, train_tab = (tabs[n] for n in ("Model store", "Upload", "Path or URL", "Train now"))
with store_tab:
    by_name = {m.path.name: m for m in loaders.stored_models(setup)}
    st.selectbox(
        "Checkpoint",
        list(dict.fromkeys(["", *by_name, setup.model])),
        disabled=busy,
        format_func=lambda n: stored_label(n, by_name),
        help="Checkpoints for this data set and architecture in assets/ (shipped) and in the model store "
        "(trained, imported or unlearned here).",
        **state.bind("model"),
    )

with upload_tab:
    upload = st.file_uploader(
        "Checkpoint file",
        type=["safetensors", "pt", "pth"],
        disabled=busy,
        key="upload",
        help="A .safetensors checkpoint (with or without UNSIR Studio metadata) or a PyTorch state dict (.pt/.pth) "
        f"for any architecture here (the setup switches to it), at most {imports.MAX_UPLOAD_BYTES // 1024**2} MB. "
        "Pickles that would run code are refused.",
    )
    # (file id, data set, refusal or None): each file is checked once, and again after a refusal when the data
    # set changed (the refusal's cause may be gone); a refusal is shown only while its file and data set are
    done = st.session_state.get("upload_done")
    fresh = done is None or done[0] != getattr(upload, "file_id", None) or (done[2] and done[1] != setup.dataset)
    if upload is not None and fresh:
        try:
            name = imports.from_bytes(upload.name, upload.getvalue(), setup)
        except UnsirError as err:
            st.session_state["upload_done"] = done = (upload.file_id, setup.dataset, str(err))
        else:
            st.session_state["upload_done"] = (upload.file_id, setup.dataset, None)
            state.set_setup(imports.selected(setup, name))
            state.notify("success", imports.imported_message(upload.name, name, setup))
            st.rerun()
    if upload is not None and done is not None and done[:2] == (upload.file_id, setup.dataset) and done[2]:
        st.error(md(done[2]))

with source_tab:
    source = st.text_input(
        "Local path or URL",
        key="source",
        disabled=busy,
        placeholder="/path/to/model.safetensors or https://example.org/model.pt",
        help="A checkpoint file in the model store, assets/models or the import folder "
        f"(${roots.IMPORT_ENV}), or a public http(s) address to download it from (needs internet; "
        f"at most {fetch.MAX_BYTES // 1024**2} MB). It is checked and copied into the model store.",
    )
    if st.button(
        "Load checkpoint",
        key="load-source",
        disabled=busy or not source.strip(),
        help="Read, check and select the checkpoint at that path or URL.",
    ):
        try:
            with st.spinner("Reading the checkpoint…"):
                name = imports.from_source(source, setup)
        except UnsirError as err:
            st.error(md(err))
        else:
            state.set_setup(imports.selected(setup, name))
            state.notify("success", imports.imported_message(source, name, setup))
            st.rerun()

with train_tab:
    st.markdown(
        f"Train **{get_spec(setup.arch).title}** from scratch on all classes of "
        f"**{md(ui.data_label(setup.dataset))}**; "
        "the checkpoint is saved in the model store and selected."
    )
    cols = st.columns(4)
    default = TrainConfig()
    recorded = training.recorded_config(setup)  # what the selected model was trained with, when it says
    used = lambda name: f" The selected model used {recorded[name]:g}." if name in recorded else ""
    epochs = cols[0].number_input(
        "Epochs",
        *train_range("epochs"),
        default.epochs,
        disabled=busy,
        key="train-epochs",
        help="Passes over the training set." + used("epochs"),
    )
    lr = cols[1].number_input(
        "Learning rate",
        *train_range("lr"),
        default.lr,
        format="%g",
        disabled=busy,
        key="train-lr",
        help="Peak learning rate of the one-cycle Adam schedule." + used("lr"),
    )
    batch = cols[2].number_input(
        "Batch size",
        *train_range("batch_size"),
        default.batch_size,
        disabled=busy,
        key="train-batch",
        help="Training images per step." + used("batch_size"),
    )
    seed = cols[3].number_input(
        "Seed",
        *train_range("seed"),
        0,
        disabled=busy,
        key="train-seed",
        help="Seeds the initialisation, shuffling and augmentation.",
    )
    st.button(
        "Train a model",
        key="train",
        icon=":material/model_training:",
        disabled=busy,
        on_click=training.request,
        args=(setup, TrainConfig(epochs=epochs, lr=lr, batch_size=batch, seed=seed)),
        help="Runs here with a live loss curve and the time left; Cancel keeps the current model.",
    )
    training.execute()

st.divider()
if not has_model:
    st.info(
        f"No {get_spec(setup.arch).title} model for {md(ui.data_label(setup.dataset))} yet: train one with "
        "**Train now** above, or bring one in with Upload or Path or URL."
    )
    st.stop()
data, model = ui.require_model()
info = model.info
st.subheader(f"Selected model: {md(loaders.model_path(setup).stem)}")
cols = st.columns(4)
cols[0].metric(
    "Test accuracy",
    f"{info.test_acc:.1f}%" if info.test_acc is not None else "n/a",
    border=True,
    help="Accuracy on the whole test split when the checkpoint was made (retain classes only for models "
    "that forgot some).",
)
cols[1].metric(
    "Parameters",
    f"{sum(p.numel() for p in model.net.parameters()):,}",
    border=True,
    help="Trainable and frozen parameters of the network.",
)
cols[2].metric(
    "Origin",
    md(info.origin),
    border=True,
    help="trained: an original model; retrained: trained without some classes; unlearned: made by UNSIR; "
    "imported: brought in from elsewhere.",
)
cols[3].metric("Classes", f"{info.num_classes}", border=True, help="Outputs of the classifier.")
if chance := model_chance_warning(info):
    st.warning(f"This model learned (almost) nothing, so forgetting is meaningless on it: {md(chance)}")
if info.forgotten:
    st.info(
        f"This model has already forgotten {md(', '.join(info.class_names[c] for c in info.forgotten))}; "
        "a new request forgets more (sequential unlearning)."
    )
if setup.chain:
    st.info(
        f"The current request starts from the unlearned model of earlier requests (forgot "
        f"{md(', '.join(setup.forgotten_before))}), made from this checkpoint: the pages call this checkpoint the "
        "Original."
    )

forget = [data.class_names.index(c) for c in setup.forget if c in data.class_names]
ui.figure(
    charts.class_panels(
        {"Test accuracy per class": loaders.per_class_accuracy(setup)}, data.class_names, forget, "accuracy (%)", 105
    ),
    key="model-per-class",
)
st.markdown(
    f"**Sample test images of each class.** Frames: <span style='color:{FORGET}'>forget class</span>, "
    f"<span style='color:{RETAIN}'>retain class</span>.",
    unsafe_allow_html=True,
)
shown = range(min(data.num_classes, 20))
st.image(
    [images.framed(images.class_mosaic(data, c), FORGET if c in forget else RETAIN) for c in shown],
    caption=[md(data.class_names[c]) for c in shown],
    width=120,
)
if data.num_classes > 20:
    st.caption(f"The first 20 of {data.num_classes} classes.")
