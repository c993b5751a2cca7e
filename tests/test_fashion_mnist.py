"""Fashion-MNIST as a ready data set: found in $UNSIR_DATA_ROOT or in Debian's dataset-fashion-mnist (gzip idx
files read where the package put them, written here in the real on-disk format), the menu's readiness and
instructions, the shipped model and references, and the cached evaluation of fixed models."""

from __future__ import annotations

import gzip
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision import datasets

from unsir_core.common.errors import DataError
from unsir_core.data import dataset_availability, load_dataset, sources
from unsir_core.data.torchvision_sets import _SOURCES, load_torchvision
from unsir_core.metrics import evaluate as evaluation

ROOT = Path(__file__).resolve().parent.parent
RNG = np.random.default_rng(0)
N_TRAIN, N_TEST = 30, 10


def idx_bytes(array: np.ndarray) -> bytes:
    """IDX format: big-endian magic (0, 0, type 0x08 = ubyte, ndim), then each dimension, then the bytes."""
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def small_set() -> dict[str, np.ndarray]:
    return {
        "train-images-idx3-ubyte": RNG.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": np.arange(N_TRAIN, dtype=np.uint8) % 10,
        "t10k-images-idx3-ubyte": RNG.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": (np.arange(N_TEST, dtype=np.uint8) * 7) % 10,
    }


@pytest.fixture
def system(tmp_path, monkeypatch) -> Path:
    """An empty stand-in for /usr/share/datasets."""
    folder = tmp_path / "system"
    folder.mkdir()
    monkeypatch.setenv(sources.SYSTEM_DATASETS_ENV, str(folder))
    return folder


def install_package(system: Path) -> dict[str, np.ndarray]:
    """What `apt-get install dataset-fashion-mnist` puts in place: four gzip idx files in fashion-mnist/."""
    folder = system / "fashion-mnist"
    folder.mkdir()
    arrays = small_set()
    for name, array in arrays.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(array)))
    return arrays


def test_the_layouts_agree_with_torchvision(tmp_path):
    for key, (_, family) in _SOURCES.items():
        layout = sources.LAYOUTS[key]
        assert family.data_dir(tmp_path / key) == sources.local_folder(key, tmp_path)
        assert {name for name, _ in family.files()} == set(layout.files), key
    assert [name for name, _ in datasets.FashionMNIST.resources] == list(sources.PACKAGES["fashionmnist"].files)


def test_the_debian_package_is_read_where_it_lies(system, tmp_path):
    arrays = install_package(system)
    root = tmp_path / "data"
    ready = dataset_availability("fashionmnist", root)
    assert ready.ready and "dataset-fashion-mnist" in ready.source and str(system / "fashion-mnist") in ready.source
    data = load_torchvision("fashionmnist", root, download=False)
    assert not root.exists()  # nothing copied
    assert data.train_x.shape == (N_TRAIN, 1, 28, 28) and data.test_x.shape == (N_TEST, 1, 28, 28)
    assert torch.equal(data.train_x[:, 0], torch.from_numpy(arrays["train-images-idx3-ubyte"]))
    assert data.test_y.dtype == torch.int64
    assert data.test_y.tolist() == arrays["t10k-labels-idx1-ubyte"].tolist()
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"


def test_files_in_the_data_root_come_first(system, tmp_path):
    install_package(system)
    raw = sources.local_folder("fashionmnist", tmp_path)
    raw.mkdir(parents=True)
    local = small_set()
    for name, array in local.items():
        (raw / name).write_bytes(idx_bytes(array))
    assert dataset_availability("fashionmnist", tmp_path).source == str(raw)
    data = load_torchvision("fashionmnist", tmp_path, download=False)
    assert torch.equal(data.train_x[:, 0], torch.from_numpy(local["train-images-idx3-ubyte"]))


def test_not_here_says_exactly_how_to_get_it(system, tmp_path):
    absent = dataset_availability("fashionmnist", tmp_path)
    assert not absent.ready and not absent.source
    assert "apt-get install dataset-fashion-mnist" in absent.how and "downloads (about 30 MB)" in absent.how
    assert str(tmp_path / "fashionmnist" / "FashionMNIST" / "raw") in absent.how
    cifar = dataset_availability("cifar10", tmp_path)
    assert not cifar.ready and "apt-get" not in cifar.how and "data_batch_1" in cifar.how
    assert dataset_availability("shapes10", tmp_path).ready
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_torchvision("fashionmnist", tmp_path, download=False)


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda raw: raw[: len(raw) // 2], "Compressed file ended|EOF|end-of-stream"),
        (lambda raw: b"not gzip at all", "Not a gzipped file"),
        (lambda raw: gzip.compress(gzip.decompress(raw)[:-5]), "bytes of data where the header announces"),
        (lambda raw: gzip.compress(b"\x00\x00\x0d\x03" + gzip.decompress(raw)[4:]), "not an idx file"),
    ],
)
def test_a_damaged_package_file_names_the_file_and_the_fix(system, tmp_path, damage, why):
    install_package(system)
    path = system / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=why) as err:
        load_torchvision("fashionmnist", tmp_path, download=False)
    assert str(path) in str(err.value) and "apt-get install --reinstall dataset-fashion-mnist" in str(err.value)


def test_labels_that_do_not_match_the_images_are_refused(system, tmp_path):
    install_package(system)
    path = system / "fashion-mnist" / "train-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.arange(N_TRAIN - 1, dtype=np.uint8) % 10)))
    with pytest.raises(DataError, match="inconsistent.*30 images.*29 labels.*--reinstall"):
        load_torchvision("fashionmnist", tmp_path, download=False)


def test_readiness_does_not_import_torch(system):
    install_package(system)
    code = (
        "import sys\nfrom unsir_core.data import DATASETS, dataset_availability\n"
        "ready = {k: dataset_availability(k).ready for k in DATASETS}\n"
        "assert ready['fashionmnist'] and ready['shapes10'] and not ready['cifar10'], ready\n"
        "assert 'torch' not in sys.modules\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]


# ---------------------------------------------------------------- evaluation: fixed models' logits are cached


def test_cached_predictions_equal_fresh_ones(shipped_model, tiny_shapes, monkeypatch):
    forget = [2]
    fresh = evaluation.evaluate(shipped_model, tiny_shapes, forget)
    first = evaluation.evaluate(shipped_model, tiny_shapes, forget, fixed=True)
    monkeypatch.setattr(evaluation, "predict_logits", lambda *a, **k: pytest.fail("computed again"))
    again = evaluation.evaluate(shipped_model, tiny_shapes, [3], fixed=True)  # another forget set, same logits
    assert first == fresh and again.per_class_acc == fresh.per_class_acc
    assert again == evaluation.evaluation_of(
        evaluation.test_logits(shipped_model, tiny_shapes.test_x, True), tiny_shapes.test_y, [3]
    )


def test_changed_weights_or_images_are_predicted_again(shipped_model, tiny_shapes):
    x = tiny_shapes.test_x
    key = evaluation.fingerprint(shipped_model, x)
    changed = shipped_model.copy()
    with torch.no_grad():
        changed.net.fc.bias[0] += 1e-3
    assert evaluation.fingerprint(changed, x) != key
    assert evaluation.fingerprint(shipped_model, x.flip(0)) != key
    assert evaluation.fingerprint(shipped_model.copy(), x.clone()) == key  # a copy of the same weights is the same
    cached = evaluation.test_logits(changed, x, fixed=True)
    assert torch.equal(cached, evaluation.predict_logits(changed, x))


# ---------------------------------------------------------------- the shipped model on the real data set


@pytest.mark.slow
def test_the_shipped_model_knows_fashion_mnist(fashion_mnist, fashion_model):
    assert fashion_model.info.dataset == "fashionmnist" and fashion_model.info.class_names == fashion_mnist.class_names
    acc = evaluation.evaluate(fashion_model, fashion_mnist, ()).overall_acc
    assert acc == pytest.approx(fashion_model.info.test_acc, abs=0.01)


@pytest.mark.slow
def test_unsir_with_the_gold_standard_reads_the_shipped_reference(fashion_mnist, fashion_model, monkeypatch):
    """What Results and GradCAM show: the run's gold standard is the shipped reference, not a new training."""
    from unsir_core.algorithm.pipeline import run_unsir
    from unsir_core.algorithm.recipe import choose_recipe
    from unsir_core.checkpoints import references
    from unsir_core.training.train import gold_standard_config

    monkeypatch.setattr(references, "fit", lambda *a, **k: pytest.fail("a shipped reference was trained again"))
    recipe = choose_recipe(fashion_mnist, fashion_model.info, [7])
    cfg = gold_standard_config(fashion_model.info, seed=0)
    run = run_unsir(fashion_model, fashion_mnist, ["Sneaker"], recipe.config, "cpu", retrain=cfg, recipe=recipe)
    assert run.extras["reference"]["shipped"] and run.extras["reference"]["reused"]
    assert run.extras["reference"]["warning"] is None
    assert run.evaluations["retrain"].forget_acc == 0.0
    assert run.evaluations["repair"].forget_acc < 5.0


@pytest.mark.slow
def test_picking_fashion_mnist_in_the_dashboard_opens_the_shipped_model(fashion_mnist, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from studio import nav

    monkeypatch.setenv(sources.SYSTEM_DATASETS_ENV, str(sources.SYSTEM_DATASETS))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(nav.MODEL.path).run()
    menu = at.selectbox(key="setup:dataset")
    assert "ready" in menu.format_func("fashionmnist")
    menu.set_value("fashionmnist").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.session_state["setup"].dataset == "fashionmnist"
    assert "fashionmnist-smallcnn" in " ".join(m.value for m in at.sidebar.markdown)


def test_load_dataset_by_name_reads_the_package(system, monkeypatch, tmp_path):
    install_package(system)
    monkeypatch.setenv("UNSIR_DATA_ROOT", str(tmp_path / "empty"))
    assert load_dataset("fashionmnist", download=False).num_classes == 10
