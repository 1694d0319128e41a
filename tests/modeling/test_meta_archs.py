"""Every backbone family and meta-architecture: build, train step, identity vs the baseline twin,
and baseline checkpoints (.pth and model-zoo .pkl) loading with only the NL keys missing."""

import math
import os

import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import BitMasks, Boxes, Instances, Keypoints
from detectron2.utils.events import EventStorage

from nl_detectron.config import load_config
from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import (
    REPO_ROOT,
    check_baseline_checkpoint_predicts_the_same,
    random_image_inputs,
)

SMALL = [
    "MODEL.DEVICE",
    "cpu",
    "MODEL.WEIGHTS",
    "",
    "MODEL.ROI_HEADS.SCORE_THRESH_TEST",
    0.0,
    "MODEL.RETINANET.SCORE_THRESH_TEST",
    0.0,
    "MODEL.BACKBONE.FREEZE_AT",
    0,
    "MODEL.RESNETS.NORM",
    "BN",
    # Random weights on raw 0-255 pixels blow activations up into degenerate boxes: normalise.
    "MODEL.PIXEL_STD",
    [57.375, 57.12, 58.395],
    # 32 RoIs per image in training instead of 512: C4's res5 head runs on every one.
    "MODEL.ROI_HEADS.BATCH_SIZE_PER_IMAGE",
    32,
    # At test time 100 proposals instead of 1,000 and 10 detections instead of 100: the box,
    # mask and keypoint heads run on every one (the keypoint head's 8 convs of 512 channels).
    "MODEL.RPN.POST_NMS_TOPK_TEST",
    100,
    "TEST.DETECTIONS_PER_IMAGE",
    10,
]
# NL config -> (its baseline twin, output fields compared)
FAMILIES = {
    "mask_rcnn_R50_NL.yaml": ("mask_rcnn_R50.yaml", ("pred_boxes", "scores", "pred_masks")),
    "faster_rcnn_R50_NL.yaml": ("faster_rcnn_R50.yaml", ("pred_boxes", "scores")),
    "keypoint_rcnn_R50_NL.yaml": ("keypoint_rcnn_R50.yaml", ("pred_boxes", "pred_keypoints")),
    "keypoint_rcnn_R50_NL_head.yaml": ("keypoint_rcnn_R50.yaml", ("pred_boxes", "pred_keypoints")),
    "retinanet_R50_NL.yaml": ("retinanet_R50.yaml", ("pred_boxes", "scores")),
    "mask_rcnn_R50_C4_NL.yaml": ("mask_rcnn_R50_C4.yaml", ("pred_boxes", "scores", "pred_masks")),
    "mask_rcnn_R50_DC5_NL.yaml": ("mask_rcnn_R50_DC5.yaml", ("pred_boxes", "scores", "pred_masks")),
}


def _cfg(name, *opts):
    return load_config(os.path.join(REPO_ROOT, "configs", name), [*SMALL, *opts])


def _nl_blocks(model):
    return [m for m in model.modules() if isinstance(m, NonLocalBlock2d)]


def _training_inputs(cfg, size=128):
    torch.manual_seed(0)
    inputs = random_image_inputs(2, size)
    for item in inputs:
        inst = Instances((size, size))
        inst.gt_boxes = Boxes(torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 60.0, 120.0, 110.0]]))
        inst.gt_classes = torch.tensor([0, 0])
        masks = torch.zeros(2, size, size, dtype=torch.bool)
        masks[0, 12:70, 10:60] = masks[1, 60:110, 70:120] = True
        inst.gt_masks = BitMasks(masks)
        k = cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS
        xy = torch.rand(2, k, 2) * 40 + torch.tensor([[[15.0, 15.0]], [[75.0, 65.0]]])
        inst.gt_keypoints = Keypoints(torch.cat([xy, torch.full((2, k, 1), 2.0)], dim=2))
        item["instances"] = inst
    return inputs


@pytest.mark.parametrize("config", FAMILIES)
def test_train_step_has_finite_losses_and_nl_gradients(config):
    cfg = _cfg(config)
    model = build_model(cfg).train()
    blocks = _nl_blocks(model)
    assert len(blocks) == (5 if config.endswith("_head.yaml") else 1)
    inputs = _training_inputs(cfg)
    with EventStorage(0):
        losses = model(inputs)
    assert all(math.isfinite(v.item()) for v in losses.values()), losses
    sum(losses.values()).backward()
    for block in blocks:
        # The norm's scale starts at zero (the official init): it gets a gradient at once, and
        # W_z, theta, phi and g get theirs through it once it has moved.
        assert block.norm.weight.grad is not None and block.norm.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("fmt", ["pth", "pkl"])
@pytest.mark.parametrize("config", FAMILIES)
def test_baseline_checkpoint_loads_into_nl_twin_with_same_predictions(config, fmt, tmp_path):
    baseline_config, fields = FAMILIES[config]
    check_baseline_checkpoint_predicts_the_same(
        _cfg(baseline_config), _cfg(config), tmp_path, fields, fmt
    )
