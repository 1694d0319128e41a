"""The detectron2 build recipe of tools/setup_env.py, and the detectron2 it installs."""

import importlib.metadata
import os
import types

import pytest

from tests.helpers import REPO_ROOT, load_script

setup_env = load_script("tools/setup_env.py")


def test_numpy_aliases_are_replaced_and_nothing_else():
    text = (
        "a.astype(np.bool)\nnp.zeros(3, dtype=np.int)\nnp.float)\nx = np.str\n"
        "np.float32 np.int64 np.bool_ np.integer np.floating mynp.int"
    )
    assert setup_env._numpy_aliases(text) == (
        "a.astype(bool)\nnp.zeros(3, dtype=int)\nfloat)\nx = str\n"
        "np.float32 np.int64 np.bool_ np.integer np.floating mynp.int"
    )


def test_c_stub_names_the_operator_and_the_remedy():
    stub = types.ModuleType("_C")
    exec(setup_env.C_STUB, stub.__dict__)
    with pytest.raises(RuntimeError, match=r"_C\.box_iou_rotated is a C\+\+.*Build detectron2"):
        stub.box_iou_rotated  # noqa: B018 (the access is what raises)
    assert not stub.has_cuda() and "pure-Python" in stub.get_compiler_version()
    with pytest.raises(AttributeError):
        stub.__wrapped__  # noqa: B018


def test_a_patch_that_changes_nothing_fails_loudly(tmp_path):
    (tmp_path / "detectron2").mkdir()
    (tmp_path / "detectron2" / "x.py").write_text("import numpy as np\n")
    with pytest.raises(setup_env.SetupError, match="removed NumPy aliases changed nothing"):
        setup_env.patch_sources(str(tmp_path))


def _imports_our_build():
    """Whether ``import detectron2`` finds the package of our pure-Python build."""
    if not (setup_env.installed_detectron2_version() or "").startswith("0.6+nlpurepy"):
        return False
    import detectron2

    ours = importlib.metadata.distribution("detectron2").locate_file("detectron2/__init__.py")
    return os.path.samefile(str(ours), detectron2.__file__)


@pytest.mark.skipif(not _imports_our_build(), reason="detectron2 is the user's own build, not ours")
def test_our_detectron2_build():
    import torch

    from detectron2 import _C, model_zoo
    from detectron2.layers import DeformConv
    from detectron2.structures import RotatedBoxes, pairwise_iou_rotated
    from detectron2.utils.analysis import FlopCountAnalysis  # noqa: F401 (caffe2-free import)
    from detectron2.utils.collect_env import collect_env_info

    assert os.path.exists(
        model_zoo.get_config_file("COCO-Keypoints/keypoint_rcnn_R_50_FPN_1x.yaml")
    )
    assert "pure-Python" in collect_env_info()
    boxes = RotatedBoxes(torch.tensor([[5.0, 5.0, 2.0, 2.0, 0.0]]))
    with pytest.raises(RuntimeError, match="box_iou_rotated"):
        pairwise_iou_rotated(boxes, boxes)
    with pytest.raises(RuntimeError, match="COCOevalAccumulate"):
        _C.COCOevalAccumulate  # noqa: B018
    # On CPU, v0.6 runs deformable convolution through torchvision, without C++ ops of its own.
    conv = DeformConv(4, 4, 3, padding=1)
    assert conv(torch.randn(1, 4, 5, 5), torch.zeros(1, 18, 5, 5)).shape == (1, 4, 5, 5)


def test_a_too_old_torch_is_refused_not_replaced(monkeypatch):
    monkeypatch.setattr(setup_env, "check_python", lambda code: "2.1.0+cpu")
    monkeypatch.setattr(setup_env, "pip", lambda *a: pytest.fail(f"pip {a} called"))
    with pytest.raises(
        setup_env.SetupError,
        match=r"torch 2\.1\.0\+cpu is installed; "
        r"nl_detectron needs torch >= 2\.4",
    ):
        setup_env.ensure_torch()


def test_a_too_old_python_is_refused_naming_the_version():
    with pytest.raises(setup_env.SetupError, match=r"Python 3\.9\.18 is too old: .* >= 3\.10"):
        setup_env.check_python_version((3, 9, 18, "final", 0))
    setup_env.check_python_version((3, 10, 0, "final", 0))


def test_python_requires_is_the_set_ups_minimum():
    with open(os.path.join(REPO_ROOT, "setup.py")) as f:
        text = f.read()
    minimum = ".".join(map(str, setup_env.MIN_PYTHON))
    assert f'python_requires=">={minimum}"' in text
