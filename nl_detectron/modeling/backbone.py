"""
Registered backbones that are detectron2's ResNet backbones with non-local blocks inserted.

Each builder calls detectron2's own builder, then adds ``NonLocalBlock2d`` modules to the ResNet
stages named by ``cfg.MODEL.NONLOCAL.AFTER_BLOCKS``. Existing modules keep their names
(``bottom_up.res4.5.conv1.weight`` stays), so baseline checkpoints load and only the NL
parameters (``bottom_up.res4.nonlocal4.*``) are new.
"""

from collections import OrderedDict

from torch import nn

from detectron2.layers import get_norm
from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.fpn import (
    build_resnet_fpn_backbone,
    build_retinanet_resnet_fpn_backbone,
)
from detectron2.modeling.backbone.resnet import build_resnet_backbone

from ..layers import MODES, NonLocalBlock2d
from ..layers.nonlocal_block import IMPLS, SUB_SAMPLE_AT
from ..utils.compat import replace_resnet_stage

STAGE_KEYS = OrderedDict((f"res{i}", f"RES{i}") for i in range(2, 6))


def nonlocal_block_kwargs(cfg):
    """
    The keyword arguments of ``NonLocalBlock2d`` given by ``cfg.MODEL.NONLOCAL``, checked so
    that a bad value fails at build time with the key, the value and the valid choices.
    """
    nl = cfg.MODEL.NONLOCAL
    if nl.MODE not in MODES:
        raise ValueError(f"MODEL.NONLOCAL.MODE = {nl.MODE!r} is not one of {', '.join(MODES)}")
    if nl.IMPL not in IMPLS:
        raise ValueError(f"MODEL.NONLOCAL.IMPL = {nl.IMPL!r} is not one of {', '.join(IMPLS)}")
    if nl.SUB_SAMPLE_AT not in SUB_SAMPLE_AT:
        raise ValueError(
            f"MODEL.NONLOCAL.SUB_SAMPLE_AT = {nl.SUB_SAMPLE_AT!r} is not one of "
            f"{', '.join(SUB_SAMPLE_AT)}"
        )
    inter = nl.INTER_CHANNELS
    if inter is not None and (isinstance(inter, bool) or not isinstance(inter, int) or inter <= 0):
        raise ValueError(
            f"MODEL.NONLOCAL.INTER_CHANNELS = {inter!r} must be None (half of the input "
            "channels) or a positive int"
        )
    if nl.NORM:
        try:
            get_norm(nl.NORM, 32)
        except KeyError:
            raise ValueError(
                f"MODEL.NONLOCAL.NORM = {nl.NORM!r} is not a detectron2 norm; valid: '' (none), "
                "'BN', 'SyncBN', 'GN', 'FrozenBN', 'naiveSyncBN', 'nnSyncBN'"
            ) from None
    return dict(
        inter_channels=nl.INTER_CHANNELS,
        mode=nl.MODE,
        sub_sample=nl.SUB_SAMPLE,
        sub_sample_at=nl.SUB_SAMPLE_AT,
        norm=nl.NORM,
        use_scale=nl.USE_SCALE,
        impl=nl.IMPL,
    )


def nonlocal_placement(cfg):
    """``{stage name: [block indices]}`` of ``cfg.MODEL.NONLOCAL.AFTER_BLOCKS``, non-empty only."""
    after = cfg.MODEL.NONLOCAL.AFTER_BLOCKS
    return {name: list(after[key]) for name, key in STAGE_KEYS.items() if len(after[key]) > 0}


def _resolve_indices(stage_name, indices, num_blocks):
    key = f"MODEL.NONLOCAL.AFTER_BLOCKS.{STAGE_KEYS[stage_name]}"
    resolved = []
    for index in indices:
        if not isinstance(index, int) or not -num_blocks <= index < num_blocks:
            raise ValueError(
                f"{key}: block index {index!r} is out of range for {stage_name}, which has "
                f"{num_blocks} blocks (valid: {-num_blocks} to {num_blocks - 1})"
            )
        resolved.append(index % num_blocks)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{key}: {list(indices)} names the same block twice")
    return sorted(resolved)


def insert_nonlocal_blocks(resnet, placement, *, freeze_at, **block_kwargs):
    """
    Insert NL blocks into a detectron2 ``ResNet`` in place.

    Args:
        resnet (ResNet): detectron2's ResNet, stages built.
        placement (dict[str, list[int]]): per stage name ("res2" ... "res5"), the indices of the
            residual blocks that get an NL block right after them (negative: from the end).
        freeze_at (int): ``MODEL.BACKBONE.FREEZE_AT``; an NL block in a frozen stage is refused,
            since it would train inside a stage that is meant to stay fixed.
        block_kwargs: passed to ``NonLocalBlock2d``.
    Returns:
        list[str]: names of the inserted modules, relative to ``resnet``.
    """
    inserted = []
    for stage_name, indices in placement.items():
        key = f"MODEL.NONLOCAL.AFTER_BLOCKS.{STAGE_KEYS[stage_name]}"
        if stage_name not in resnet.stage_names:
            raise ValueError(
                f"{key} = {list(indices)}, but this backbone builds no {stage_name}: its ResNet "
                f"stages are {list(resnet.stage_names)} (see MODEL.RESNETS.OUT_FEATURES; a C4 "
                "model's res5 lives in its ROI head)"
            )
        stage_id = int(stage_name[len("res") :])
        if freeze_at >= stage_id:
            raise ValueError(
                f"{key} = {list(indices)}, but {stage_name} is frozen by "
                f"MODEL.BACKBONE.FREEZE_AT = {freeze_at}; lower FREEZE_AT below {stage_id} or "
                "place the block in a later stage"
            )
        stage = getattr(resnet, stage_name)
        after = set(_resolve_indices(stage_name, indices, len(stage)))
        modules = OrderedDict()
        for name, block in stage.named_children():
            modules[name] = block
            if int(name) in after:
                modules[f"nonlocal{name}"] = NonLocalBlock2d(block.out_channels, **block_kwargs)
                inserted.append(f"{stage_name}.nonlocal{name}")
        replace_resnet_stage(resnet, stage_name, nn.Sequential(modules))
    return inserted


def add_nonlocal_blocks(resnet, cfg):
    """Insert the NL blocks that ``cfg.MODEL.NONLOCAL`` asks for into ``resnet``, in place."""
    return insert_nonlocal_blocks(
        resnet,
        nonlocal_placement(cfg),
        freeze_at=cfg.MODEL.BACKBONE.FREEZE_AT,
        **nonlocal_block_kwargs(cfg),
    )


@BACKBONE_REGISTRY.register()
def build_resnet_fpn_nl_backbone(cfg, input_shape):
    """detectron2's ``build_resnet_fpn_backbone`` with NL blocks in its ResNet."""
    backbone = build_resnet_fpn_backbone(cfg, input_shape)
    add_nonlocal_blocks(backbone.bottom_up, cfg)
    return backbone


@BACKBONE_REGISTRY.register()
def build_retinanet_resnet_fpn_nl_backbone(cfg, input_shape):
    """detectron2's ``build_retinanet_resnet_fpn_backbone`` (P3-P7) with NL blocks."""
    backbone = build_retinanet_resnet_fpn_backbone(cfg, input_shape)
    add_nonlocal_blocks(backbone.bottom_up, cfg)
    return backbone


@BACKBONE_REGISTRY.register()
def build_resnet_nl_backbone(cfg, input_shape):
    """detectron2's ``build_resnet_backbone`` (C4, DC5) with NL blocks."""
    backbone = build_resnet_backbone(cfg, input_shape)
    add_nonlocal_blocks(backbone, cfg)
    return backbone


# The registered NL backbones, each with detectron2's builder it extends (its baseline twin).
NL_BACKBONES = {
    "build_resnet_fpn_nl_backbone": "build_resnet_fpn_backbone",
    "build_retinanet_resnet_fpn_nl_backbone": "build_retinanet_resnet_fpn_backbone",
    "build_resnet_nl_backbone": "build_resnet_backbone",
}
