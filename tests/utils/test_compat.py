"""Each use of a detectron2 name that is not public API (``nl_detectron/utils/compat.py``) still
does what we rely on: these fail when detectron2 changes one."""

import importlib
import inspect
import itertools

import torch
from torch import nn

from detectron2.data.samplers import TrainingSampler
from detectron2.modeling import build_model
from detectron2.utils import comm

from nl_detectron.modeling import KRCNNConvDeconvUpsampleNLHead
from nl_detectron.utils import compat
from tests.helpers import small_cfg


def test_train_loader_kwargs_are_those_of_build_detection_train_loader():
    mapper = object()
    kwargs = compat.train_loader_kwargs(small_cfg(), mapper=mapper)
    assert kwargs["mapper"] is mapper
    assert isinstance(kwargs["sampler"], TrainingSampler) and len(kwargs["dataset"]) == 400
    assert kwargs["total_batch_size"] == 4


def test_training_sampler_args_and_shard():
    sampler = TrainingSampler(10, shuffle=True, seed=3)
    assert compat.training_sampler_args(sampler) == (10, True, 3)
    indices, rank, world_size = compat.sampler_shard(sampler)
    assert (rank, world_size) == (0, 1)
    assert list(itertools.islice(indices, 25)) == list(itertools.islice(iter(sampler), 25))


def test_replaced_resnet_stage_is_the_one_forward_runs():
    model = build_model(small_cfg("MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone"))
    resnet = model.backbone.bottom_up
    calls = []

    class Recording(nn.Sequential):
        def forward(self, x):
            calls.append(x.shape)
            return super().forward(x)

    compat.replace_resnet_stage(resnet, "res4", Recording(*resnet.res4))
    resnet(torch.randn(1, 3, 64, 64))
    assert len(calls) == 1 and resnet.res4 is resnet.stages[resnet.stage_names.index("res4")]


def test_keypoint_head_runs_each_nl_block_after_its_conv():
    cfg = small_cfg(
        "MODEL.KEYPOINT_ON", True, "MODEL.ROI_KEYPOINT_HEAD.NAME", "KRCNNConvDeconvUpsampleNLHead"
    )
    head = build_model(cfg).roi_heads.keypoint_head
    assert isinstance(head, KRCNNConvDeconvUpsampleNLHead)
    order = []
    for name, module in head.named_children():
        module.register_forward_hook(lambda m, i, o, name=name: order.append(name))
    head.layers(torch.randn(2, head.conv_fcn1.in_channels, 14, 14))
    expected = []
    for k in range(1, 9):
        expected += [f"conv_fcn{k}", f"conv_fcn_relu{k}"]
        if k in (2, 4, 6, 8):
            expected.append(f"nonlocal_fcn{k}")
    assert order == expected + ["score_lowres"]


def test_launch_falls_back_to_gloo_where_detectron2s_does():
    worker = inspect.getsource(
        importlib.import_module("detectron2.engine.launch")._distributed_worker
    )
    assert ("GLOO" in worker) == compat.LAUNCH_FALLS_BACK_TO_GLOO
    if not compat.LAUNCH_FALLS_BACK_TO_GLOO:
        # Our gloo worker sets the local process group as v0.6's worker does.
        assert "comm._LOCAL_PROCESS_GROUP = pg" in worker and comm._LOCAL_PROCESS_GROUP is None
