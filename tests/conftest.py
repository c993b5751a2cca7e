"""Shared fixtures: the embedded data set, the shipped model, and small fast UNSIR settings."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory, monkeypatch):
    """Each test writes its model store under a temporary $UNSIR_HOME; the data cache is shared. Debian's
    data-set packages are looked for in an empty folder, so a test sees only the files it writes (the ones that
    need the installed Fashion-MNIST point $UNSIR_SYSTEM_DATASETS back, test_fashion_mnist.py)."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("UNSIR_HOME", str(home))
    monkeypatch.setenv("UNSIR_DATA_ROOT", str(tmp_path_factory.getbasetemp() / "data"))
    monkeypatch.setenv("UNSIR_SYSTEM_DATASETS", str(tmp_path_factory.getbasetemp() / "no-system-datasets"))
    return home


@pytest.fixture(scope="session")
def shapes():
    from unsir_core.data.shapes import generate_shapes

    return generate_shapes(10_000, 2_500, seed=0)


@pytest.fixture(scope="session")
def tiny_shapes():
    from unsir_core.data.shapes import generate_shapes

    return generate_shapes(400, 200, seed=1)


@pytest.fixture(scope="session")
def shipped_model():
    from unsir_core.checkpoints.store import default_checkpoint, load_model

    return load_model(default_checkpoint("shapes10", "smallcnn"))


@pytest.fixture(scope="session")
def fashion_mnist(tmp_path_factory):
    """The real Fashion-MNIST, read from Debian's dataset-fashion-mnist (`./run.sh test` installs it); the tests
    that use it are skipped where it is not installed."""
    from unsir_core.data import load_dataset, sources

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(sources.SYSTEM_DATASETS_ENV, str(sources.SYSTEM_DATASETS))
        if sources.package_folder("fashionmnist") is None:
            pytest.skip("Debian's dataset-fashion-mnist is not installed: apt-get install dataset-fashion-mnist")
        return load_dataset("fashionmnist", tmp_path_factory.mktemp("no-local-data"), download=False)


@pytest.fixture(scope="session")
def fashion_model():
    """The shipped Small CNN trained on Fashion-MNIST."""
    from unsir_core.checkpoints.store import default_checkpoint, load_model

    return load_model(default_checkpoint("fashionmnist", "smallcnn"))


@pytest.fixture
def fast_config():
    """A short UNSIR run for behaviour tests (not the tuned preset)."""
    from unsir_core.common.config import NoiseConfig, PhaseConfig, UnsirConfig

    return UnsirConfig(
        noise=NoiseConfig(batch_size=16, steps=5),
        noise_copies=2,
        retain_per_class=20,
        impair=PhaseConfig(lr=0.01, batch_size=64),
        repair=PhaseConfig(lr=0.002, batch_size=64),
    )
