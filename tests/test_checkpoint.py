import os
import pickle
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

from nl_detectron.checkpoint import CheckpointReadError, SafeCheckpointer, UnsafeCheckpointError


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


@pytest.mark.parametrize("suffix", ["pth", "pkl"])
@pytest.mark.parametrize("content", ["text", "truncated"])
def test_a_file_that_is_no_checkpoint_or_truncated_is_named(tmp_path, suffix, content):
    path = tmp_path / f"model.{suffix}"
    if content == "text":
        path.write_text("these are not weights\n")
    else:
        full = tmp_path / f"full.{suffix}"
        if suffix == "pth":
            torch.save({"model": _model().state_dict()}, full)
        else:
            with open(full, "wb") as f:
                pickle.dump({"model": {"0.bias": np.zeros(4, np.float32)}, "__author__": "x"}, f)
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointReadError, match=f"{path}: not a readable checkpoint"):
        SafeCheckpointer(_model()).load(str(path))


def test_wrong_shapes_are_named_and_skipped(tmp_path, caplog):
    model = _model()
    state = model.state_dict()
    state["0.weight"] = torch.zeros(5, 3, 1, 1)
    torch.save({"model": state}, tmp_path / "wrong.pth")
    fresh = _model()
    before = fresh[0].weight.clone()
    with caplog.at_level("WARNING"):
        SafeCheckpointer(fresh).load(str(tmp_path / "wrong.pth"))
    assert "0.weight" in caplog.text and "(5, 3, 1, 1)" in caplog.text
    assert "(4, 3, 1, 1)" in caplog.text
    assert torch.equal(fresh[0].weight, before)  # not loaded
    assert torch.equal(fresh[0].bias, state["0.bias"])  # the rest is


def _trusted_files(tmp_path):
    """One file of each format detectron2's checkpointer reads, with plain data only."""
    weights = {
        "0.weight": np.ones((4, 3, 1, 1), np.float32),
        "0.bias": np.arange(4, dtype=np.float32),
    }
    files = {}
    files["zoo.pkl"] = {"model": weights, "__author__": "zoo"}
    files["caffe2.pkl"] = {"blobs": dict(weights, **{"0.bias_momentum": np.zeros(4, np.float32)})}
    for name, data in files.items():
        with open(tmp_path / name, "wb") as f:
            pickle.dump(data, f)
    tensors = {k: torch.from_numpy(v) for k, v in weights.items()}
    torch.save(
        {"model_state": dict(tensors, **{"1.num_batches_tracked": torch.tensor(3)})},
        tmp_path / "pycls.pyth",
    )
    torch.save(tensors, tmp_path / "bare.pth")
    return [str(tmp_path / name) for name in ("zoo.pkl", "caffe2.pkl", "pycls.pyth", "bare.pth")]


def test_each_format_reads_as_detectron2_reads_it(tmp_path):
    """Our reader names the parts of every format as detectron2's own _load_file does: this
    fails when detectron2 changes its conventions."""
    from detectron2.checkpoint import DetectionCheckpointer

    for path in _trusted_files(tmp_path):
        ours = SafeCheckpointer(_model())._load_file(path)
        reference = DetectionCheckpointer(_model())
        if hasattr(reference, "_parsed_url_during_load"):  # main: set by load() before reading
            reference._parsed_url_during_load = urlparse(str(path))
        theirs = reference._load_file(path)
        assert ours.keys() == theirs.keys(), path
        assert ours["model"].keys() == theirs["model"].keys(), path
        for key, value in theirs["model"].items():
            assert np.array_equal(np.asarray(ours["model"][key]), np.asarray(value)), (path, key)


def test_each_file_is_read_once_and_weights_only(tmp_path, monkeypatch):
    """Whatever torch.load's default for weights_only, ours asks for it; a .pkl is opened once."""
    from nl_detectron import checkpoint

    calls = []
    real_load, real_open = torch.load, checkpoint.PathManager.open
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    opened = []
    monkeypatch.setattr(
        checkpoint.PathManager,
        "open",
        lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k),
    )
    for path in _trusted_files(tmp_path):
        SafeCheckpointer(_model())._load_file(path)
    assert [k["weights_only"] for k in calls] == [True, True]  # .pyth and .pth
    assert sorted(opened) == sorted(set(opened))  # every file once


def test_untrusted_pyth_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pyth"
    torch.save({"model_state": {}, "payload": _CreatesFile(str(marker))}, path)
    with pytest.raises(UnsafeCheckpointError, match=str(path)):
        SafeCheckpointer(_model()).load(str(path))
    assert not marker.exists()
