"""
Every NL config's model at inference, on the inputs that leave a block little or nothing: no
detection (every score under the threshold, so the NL keypoint head gets zero boxes), a 16x16
image and a 32x1000 one, each kept at its size (``INPUT.MIN_SIZE_TEST 0``: a 1x1 res5 map, a
1-row C4 res4 map) and as the test resize makes it.
"""

import glob
import math
import os

import numpy as np
import pytest
import torch

from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances, Keypoints
from detectron2.utils.events import EventStorage

from nl_detectron.config import is_lazy, load_any_config
from nl_detectron.engine.predictor import build_predictor, set_confidence_threshold
from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import REPO_ROOT

NL_CONFIGS = sorted(
    os.path.relpath(p, REPO_ROOT)
    for pattern in ("configs/**/*_NL*.yaml", "configs/**/*_NL*.py")
    for p in glob.glob(os.path.join(REPO_ROOT, pattern), recursive=True)
)
# A 3x config builds its 1x twin's model (only the schedule differs; checked below): run once.
MODELS = [c for c in NL_CONFIGS if not c.endswith("_3x.yaml")]
IMAGES = {"16x16": (16, 16), "32x1000": (32, 1000)}


def test_every_nl_config_is_here():
    yaml = [c for c in NL_CONFIGS if c.endswith(".yaml")]
    assert len(yaml) >= 18 and any(c.endswith(".py") for c in NL_CONFIGS), NL_CONFIGS
    assert set(RESIZED) <= set(MODELS)
    for config in set(NL_CONFIGS) - set(MODELS):
        three, one = (
            load_any_config(os.path.join(REPO_ROOT, c)) for c in (config, config.replace("_3x", ""))
        )
        assert three.MODEL == one.MODEL and three.INPUT == one.INPUT, config


def _predictor(config, threshold, keep_size):
    path = os.path.join(REPO_ROOT, config)
    if config.endswith(".py"):
        opts = ["train.device=cpu", "train.init_checkpoint=''"]
        if keep_size:
            opts.append("dataloader.test.mapper.augmentations=[]")
    else:
        opts = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", ""]
        if keep_size:
            opts += ["INPUT.MIN_SIZE_TEST", "0"]
    cfg = load_any_config(path, opts)
    if is_lazy(cfg) and keep_size:
        from detectron2.config import LazyCall as L
        from detectron2.data.transforms import ResizeShortestEdge

        # One resize that keeps the size (a short edge of 0 is detectron2's no-op).
        cfg.dataloader.test.mapper.augmentations = [L(ResizeShortestEdge)(short_edge_length=0)]
    set_confidence_threshold(cfg, threshold)
    torch.manual_seed(0)
    return build_predictor(cfg)


# As the test resize makes them (16x16 to 800x800, 32x1000 to 42x1333): the same code paths at
# a greater cost, so one model of each kind.
RESIZED = [
    "configs/mask_rcnn_R50_NL.yaml",
    "configs/mask_rcnn_R50_C4_NL.yaml",
    "configs/keypoint_rcnn_R50_NL_head.yaml",
    "configs/retinanet_R50_NL.yaml",
]


@pytest.mark.parametrize(
    "config, keep_size",
    [(c, True) for c in MODELS] + [(c, False) for c in RESIZED],
    ids=lambda v: {True: "kept", False: "resized"}.get(v, v) if isinstance(v, bool) else v,
)
def test_no_detection_and_tiny_images(config, keep_size):
    predictor = _predictor(config, threshold=1.0, keep_size=keep_size)
    assert any(isinstance(m, NonLocalBlock2d) for m in predictor.model.modules())
    rng = np.random.default_rng(0)
    for name, (height, width) in IMAGES.items():
        image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
        instances = predictor(image)["instances"]
        assert len(instances) == 0, (name, len(instances))
        assert instances.image_size == (height, width), name


def _keypoint_training_inputs(cfg, visibility, num_instances=(2, 2), size=128):
    """Images with ``num_instances`` objects each, every keypoint of ``visibility`` (0: not
    labelled, 2: visible); an image of 0 instances has no annotation at all."""
    torch.manual_seed(0)
    k = cfg.MODEL.ROI_KEYPOINT_HEAD.NUM_KEYPOINTS
    inputs = []
    for n in num_instances:
        inst = Instances((size, size))
        boxes = torch.tensor([[10.0, 12.0, 60.0, 70.0], [70.0, 60.0, 120.0, 110.0]])[:n]
        inst.gt_boxes = Boxes(boxes)
        inst.gt_classes = torch.zeros(n, dtype=torch.long)
        xy = boxes[:, None, :2] + torch.rand(n, k, 2) * 40
        inst.gt_keypoints = Keypoints(torch.cat([xy, torch.full((n, k, 1), visibility)], dim=2))
        image = torch.randint(0, 256, (3, size, size)).float()
        inputs.append({"image": image, "height": size, "width": size, "instances": inst})
    return inputs


@pytest.mark.parametrize(
    "visibility, num_instances",
    [(0.0, (2, 2)), (2.0, (2, 0)), (0.0, (0, 0))],
    ids=["no-visible-keypoint", "image-without-annotation", "no-annotation-at-all"],
)
@pytest.mark.parametrize(
    "config",
    ["configs/demo/keypoint_rcnn_R50_NL_shapes.yaml", "configs/keypoint_rcnn_R50_NL_head.yaml"],
)
def test_keypoint_training_step_without_visible_keypoints(config, visibility, num_instances):
    opts = ["MODEL.DEVICE", "cpu", "MODEL.WEIGHTS", "", "MODEL.BACKBONE.FREEZE_AT", "0"]
    opts += ["MODEL.ROI_KEYPOINT_HEAD.MIN_KEYPOINTS_PER_IMAGE", "0"]
    cfg = load_any_config(os.path.join(REPO_ROOT, config), opts)
    torch.manual_seed(0)
    model = build_model(cfg).train()
    head_blocks = [
        m for m in model.roi_heads.keypoint_head.modules() if isinstance(m, NonLocalBlock2d)
    ]
    assert len(head_blocks) == 4
    seen = []
    for block in head_blocks:
        block.register_forward_pre_hook(lambda m, args: seen.append(args[0].shape[0]))
    with EventStorage(0):
        losses = model(_keypoint_training_inputs(cfg, visibility, num_instances))
    assert all(math.isfinite(v.item()) for v in losses.values()), losses
    sum(losses.values()).backward()
    if visibility == 0.0:
        assert seen == [0, 0, 0, 0]  # the head's blocks were given zero boxes
        assert losses["loss_keypoint"].item() == 0.0
    else:
        assert min(seen) > 0
    for p in model.parameters():
        assert p.grad is None or torch.isfinite(p.grad).all()
