import math

import torch

from detectron2.data import build_detection_train_loader
from detectron2.modeling import build_model
from detectron2.solver import build_optimizer
from detectron2.utils.events import EventStorage

from nl_detectron.layers import NonLocalBlock2d
from tests.helpers import small_cfg


def test_training_iterations_give_finite_losses_and_nl_gradients():
    torch.manual_seed(0)
    cfg = small_cfg("DATASETS.TRAIN", ("nl_demo_shapes_val",), "SOLVER.IMS_PER_BATCH", 2)
    model = build_model(cfg).train()
    optimizer = build_optimizer(cfg, model)
    data = iter(build_detection_train_loader(cfg))
    block = next(m for m in model.modules() if isinstance(m, NonLocalBlock2d))
    with EventStorage(0):
        for iteration in range(3):
            losses = model(next(data))
            assert {"loss_cls", "loss_box_reg", "loss_mask", "loss_rpn_cls"} <= set(losses)
            total = sum(losses.values())
            assert all(math.isfinite(v.item()) for v in losses.values()), losses
            optimizer.zero_grad()
            total.backward()
            if iteration == 0:
                # The official init: the norm's scale starts at zero, so at first only the scale
                # gets a gradient, and the block grows from zero through it.
                assert block.norm.weight.grad.abs().sum() > 0
                assert not block.out.weight.grad.any()
            else:
                # ... and once the scale has moved, every NL parameter does.
                for name, p in block.named_parameters():
                    assert p.grad is not None and p.grad.abs().sum() > 0, name
                    assert torch.isfinite(p.grad).all(), name
            optimizer.step()
