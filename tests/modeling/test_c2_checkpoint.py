import os
import pickle
import re

import numpy as np
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from nl_detectron.config import load_config
from tests.helpers import REPO_ROOT


def to_caffe2_name(name):
    """detectron2 ResNet name (relative to the ResNet) -> the Caffe2 ImageNet model's name."""
    name = re.sub(r"\.norm\.weight$", "_bn_s", name)
    name = re.sub(r"\.norm\.bias$", "_bn_b", name)
    name = re.sub(r"\.weight$", "_w", re.sub(r"\.bias$", "_b", name))
    name = name.replace("stem.conv1_bn_", "res_conv1_bn_").replace("stem.conv1_", "conv1_")
    name = re.sub(r"\.conv([123])_", lambda m: ".branch2" + "abc"[int(m.group(1)) - 1] + "_", name)
    name = name.replace(".shortcut_", ".branch1_")
    return name.replace(".", "_")


def test_caffe2_imagenet_pkl_loads_into_nl_backbone(tmp_path):
    cfg = load_config(
        os.path.join(REPO_ROOT, "configs", "mask_rcnn_R50_NL.yaml"), ["MODEL.DEVICE", "cpu"]
    )
    model = build_model(cfg)
    resnet = model.backbone.bottom_up
    rng = np.random.default_rng(0)
    blobs = {}
    for name, tensor in resnet.state_dict().items():
        if ".nonlocal" in name or "running_" in name:
            continue  # the NL block is new; C2 ImageNet files hold only the BN scale and shift
        blobs[to_caffe2_name(name)] = rng.standard_normal(tuple(tensor.shape)).astype(np.float32)
    assert (
        "res2_0_branch2a_w" in blobs
        and "res_conv1_bn_s" in blobs
        and "res4_5_branch1_w" not in blobs
    )
    path = tmp_path / "R-50-c2.pkl"
    with open(path, "wb") as f:
        pickle.dump({"blobs": blobs}, f)

    DetectionCheckpointer(model).load(str(path))
    loaded = resnet.state_dict()
    for name, tensor in loaded.items():
        if ".nonlocal" in name or "running_" in name:
            continue
        assert torch.equal(tensor, torch.from_numpy(blobs[to_caffe2_name(name)])), name
    # The NL block is untouched: still the identity (the norm's scale at its init 0).
    assert torch.count_nonzero(resnet.res4.nonlocal4.norm.weight) == 0
