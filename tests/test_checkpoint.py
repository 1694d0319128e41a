import os
import pickle

import numpy as np
import pytest
import torch

from nl_detectron.checkpoint import SafeCheckpointer, UnsafeCheckpointError


class _CreatesFile:
    """Unpickling this object creates a file: what an untrusted checkpoint could do."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _model():
    return torch.nn.Sequential(torch.nn.Conv2d(3, 4, 1))


def _evil_pkl(tmp_path):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.pkl"
    weights = {"0.weight": np.zeros((4, 3, 1, 1), np.float32), "0.bias": np.zeros(4, np.float32)}
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "x", "payload": _CreatesFile(marker)}, f)
    return str(path), marker


def test_untrusted_pkl_runs_no_code(tmp_path):
    path, marker = _evil_pkl(tmp_path)
    with pytest.raises(UnsafeCheckpointError, match=r"evil.pkl asks to load io.open"):
        SafeCheckpointer(_model()).load(path)
    assert not os.path.exists(marker)


def test_allow_unsafe_opts_out_for_trusted_files(tmp_path):
    path, marker = _evil_pkl(tmp_path)
    SafeCheckpointer(_model(), allow_unsafe=True).load(path)
    assert os.path.exists(marker)  # plain pickle ran the file's code: the check above matters


def test_untrusted_pth_runs_no_code(tmp_path):
    marker = str(tmp_path / "pwned")
    path = str(tmp_path / "evil.pth")
    torch.save({"model": _model().state_dict(), "payload": _CreatesFile(marker)}, path)
    with pytest.raises(pickle.UnpicklingError):
        SafeCheckpointer(_model()).load(path)
    assert not os.path.exists(marker)


def test_checkpoints_of_numpy_arrays_load(tmp_path):
    model = _model()
    weights = {k: v.numpy() + 1 for k, v in model.state_dict().items()}
    path = tmp_path / "zoo.pkl"
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "zoo"}, f, protocol=2)
    SafeCheckpointer(model).load(str(path))
    assert torch.equal(model[0].bias, torch.from_numpy(weights["0.bias"]))


def test_a_save_killed_midway_leaves_the_last_checkpoint_intact(tmp_path, monkeypatch):
    model = _model()
    checkpointer = SafeCheckpointer(model, str(tmp_path))
    checkpointer.save("model_0000001")
    good = {k: v.clone() for k, v in model.state_dict().items()}

    def dies_midway(obj, f):
        f.write(b"partial")
        raise KeyboardInterrupt  # as a kill during the write

    monkeypatch.setattr(torch, "save", dies_midway)
    with torch.no_grad():
        model[0].weight.add_(1)
    with pytest.raises(KeyboardInterrupt):
        checkpointer.save("model_0000002")
    monkeypatch.undo()
    assert not (tmp_path / "model_0000002.pth").exists()
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000001.pth"
    fresh = _model()
    SafeCheckpointer(fresh, str(tmp_path)).resume_or_load("", resume=True)
    assert all(torch.equal(fresh.state_dict()[k], v) for k, v in good.items())
