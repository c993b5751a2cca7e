"""The model store: round trip, metadata, atomic writes, refusal of unsafe or mismatched checkpoints."""

import os
import pickle

import pytest
import torch

from unsir_core.checkpoints.store import list_models, load_model, read_info, save_model
from unsir_core.common.errors import CheckpointError
from unsir_core.models.classifier import Classifier, ModelInfo


def small(arch="smallcnn", classes=("a", "b", "c"), width=0.25):
    torch.manual_seed(0)
    return Classifier.create(
        ModelInfo(
            arch=arch,
            dataset="toy",
            class_names=classes,
            width=width,
            test_acc=91.5,
            details={"train_config": {"epochs": 3}},
        )
    )


def test_round_trip_keeps_weights_and_metadata(tmp_path):
    model = small()
    path = save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(path)
    assert loaded.info.arch == "smallcnn" and loaded.info.class_names == ("a", "b", "c")
    assert loaded.info.test_acc == 91.5 and loaded.info.details["train_config"] == {"epochs": 3}
    assert "torch" in loaded.info.details["versions"]
    for k, v in model.net.state_dict().items():
        assert torch.equal(v, loaded.net.state_dict()[k])
    assert read_info(path).width == 0.25
    assert [m.path for m in list_models("toy", dirs=(tmp_path,))] == [path]


def test_pt_state_dict_loads_with_explicit_info(tmp_path):
    model = small()
    torch.save({"state_dict": model.net.state_dict()}, tmp_path / "m.pt")
    loaded = load_model(tmp_path / "m.pt", model.info)
    assert torch.equal(loaded.net.fc.weight, model.net.fc.weight)
    with pytest.raises(CheckpointError, match="carries no metadata"):
        load_model(tmp_path / "m.pt")


class Exploit:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        pickle.dump({"fc.weight": Exploit()}, f)
    with pytest.raises(CheckpointError, match="would run code"):
        load_model(path, small().info)
    assert not (tmp_path / "PWNED").exists()


def test_checkpoint_of_another_architecture_names_what_differs(tmp_path):
    path = save_model(small("allcnn"), tmp_path / "allcnn.safetensors")
    with pytest.raises(CheckpointError, match="does not fit Small CNN"):
        load_model(path, small().info)


def test_checkpoint_with_another_class_count_says_so(tmp_path):
    path = save_model(small(classes=tuple("abcde")), tmp_path / "five.safetensors")
    with pytest.raises(CheckpointError, match="5 output classes but the chosen setup has 3"):
        load_model(path, small().info)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x00" * 64])
def test_corrupted_files_give_a_clear_error(tmp_path, content):
    for suffix in (".safetensors", ".pt"):
        path = tmp_path / f"bad{suffix}"
        path.write_bytes(content)
        with pytest.raises(CheckpointError):
            load_model(path, small().info)


def test_failed_save_leaves_the_old_checkpoint_intact(tmp_path, monkeypatch):
    path = save_model(small(), tmp_path / "m.safetensors")
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.torch.save_file", crash)
    with pytest.raises(OSError):
        save_model(small(classes=tuple("abcd")), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"]


def test_only_safetensors_are_written(tmp_path):
    with pytest.raises(CheckpointError, match="saved as .safetensors"):
        save_model(small(), tmp_path / "m.pt")


def test_default_checkpoint_prefers_the_default_architecture():
    from unsir_core.checkpoints.store import default_checkpoint, read_info

    assert read_info(default_checkpoint("shapes10")).arch == "smallcnn"
    assert read_info(default_checkpoint("shapes10", "allcnn")).arch == "allcnn"
    with pytest.raises(CheckpointError, match="No trained model for shapes10 with resnet18"):
        default_checkpoint("shapes10", "resnet18")
