"""
Registered backbones that are detectron2's ResNet backbones with non-local blocks inserted.

Each builder calls detectron2's own builder, then adds ``NonLocalBlock2d`` modules to the ResNet
stages named by ``cfg.MODEL.NONLOCAL.AFTER_BLOCKS``. Existing modules keep their names
(``bottom_up.res4.5.conv1.weight`` stays), so baseline checkpoints load and only the NL
parameters (``bottom_up.res4.nonlocal4.*``) are new.
"""

from collections import OrderedDict

from torch import nn

from detectron2.modeling import BACKBONE_REGISTRY
from detectron2.modeling.backbone.fpn import (
    build_resnet_fpn_backbone,
    build_retinanet_resnet_fpn_backbone,
)
from detectron2.modeling.backbone.resnet import build_resnet_backbone

from ..layers import SETTINGS, AttentionBlock, build_block, check_settings
from ..utils.compat import replace_resnet_stage

STAGE_KEYS = OrderedDict((f"res{i}", f"RES{i}") for i in range(2, 6))


def nonlocal_block_kwargs(cfg):
    """
    The keyword arguments of ``build_block`` given by ``cfg.MODEL.NONLOCAL``, checked so that a
    bad value fails at build time with the key, the value and the reason.
    """
    nl = cfg.MODEL.NONLOCAL
    return check_settings(
        key=lambda name: f"MODEL.NONLOCAL.{name.upper()}",
        **{s.name: nl[s.key] for s in SETTINGS},
    )


def nonlocal_placement(cfg):
    """``{stage name: [block indices]}`` of ``cfg.MODEL.NONLOCAL.AFTER_BLOCKS``, non-empty only."""
    after = cfg.MODEL.NONLOCAL.AFTER_BLOCKS
    return {name: list(after[key]) for name, key in STAGE_KEYS.items() if len(after[key]) > 0}


def _yaml_placement_key(stage_name):
    return f"MODEL.NONLOCAL.AFTER_BLOCKS.{STAGE_KEYS[stage_name]}"


def _resolve_indices(key, stage_name, indices, num_blocks):
    resolved = []
    for index in indices:
        if not isinstance(index, int) or isinstance(index, bool):
            raise ValueError(
                f"{key}: block index {index!r} is a {type(index).__name__}, not an int (valid: "
                f"{-num_blocks} to {num_blocks - 1} for {stage_name})"
            )
        if not -num_blocks <= index < num_blocks:
            raise ValueError(
                f"{key}: block index {index!r} is out of range for {stage_name}, which has "
                f"{num_blocks} blocks (valid: {-num_blocks} to {num_blocks - 1})"
            )
        resolved.append(index % num_blocks)
    if len(set(resolved)) != len(resolved):
        raise ValueError(f"{key}: {list(indices)} names the same block twice")
    return sorted(resolved)


def insert_nonlocal_blocks(
    resnet,
    placement,
    *,
    freeze_at,
    placement_key=_yaml_placement_key,
    freeze_key="MODEL.BACKBONE.FREEZE_AT",
    **block_kwargs,
):
    """
    Insert NL blocks into a detectron2 ``ResNet`` in place.

    Args:
        resnet (ResNet): detectron2's ResNet, stages built.
        placement (dict[str, list[int]]): per stage name ("res2" ... "res5"), the indices of the
            residual blocks that get an NL block right after them (negative: from the end).
        freeze_at (int): ``MODEL.BACKBONE.FREEZE_AT``; an NL block in a frozen stage is refused,
            since it would train inside a stage that is meant to stay fixed.
        placement_key (callable): stage name -> the name errors give its placement under.
        freeze_key (str): the name errors give ``freeze_at`` under.
        block_kwargs: passed to ``build_block`` (the family's block and its arguments).
    Returns:
        list[str]: names of the inserted modules, relative to ``resnet``.
    """
    inserted = []
    for stage_name, indices in placement.items():
        key = placement_key(stage_name)
        if stage_name not in resnet.stage_names:
            raise ValueError(
                f"{key} = {list(indices)}, but this backbone builds no {stage_name}: its ResNet "
                f"stages are {list(resnet.stage_names)} (see MODEL.RESNETS.OUT_FEATURES; a C4 "
                "model's res5 lives in its ROI head)"
            )
        stage_id = int(stage_name[len("res") :])
        if freeze_at >= stage_id:
            raise ValueError(
                f"{key} = {list(indices)}, but {stage_name} is frozen by {freeze_key} = "
                f"{freeze_at}; lower it below {stage_id} or place the block in a later stage"
            )
        stage = getattr(resnet, stage_name)
        present = [n for n, m in stage.named_children() if isinstance(m, AttentionBlock)]
        if present:
            raise ValueError(
                f"{key} = {list(indices)}, but {stage_name} has blocks of the family already "
                f"({', '.join(f'{stage_name}.{n}' for n in present)}): insert them once, into "
                "detectron2's ResNet as built"
            )
        after = set(_resolve_indices(key, stage_name, indices, len(stage)))
        modules = OrderedDict()
        for name, block in stage.named_children():
            modules[name] = block
            if int(name) in after:
                modules[f"nonlocal{name}"] = build_block(block.out_channels, **block_kwargs)
                inserted.append(f"{stage_name}.nonlocal{name}")
        replace_resnet_stage(resnet, stage_name, nn.Sequential(modules))
    return inserted


def nonlocal_resnet(resnet, *, after_blocks=None, **settings):
    """
    ``resnet`` with NL blocks inserted, for Python (LazyConfig) configs::

        model.backbone.bottom_up = L(nonlocal_resnet)(resnet=model.backbone.bottom_up)

    The placement, block settings, checks and checkpoint names are those of the YAML backbones,
    through the same code; the defaults are ``MODEL.NONLOCAL``'s.

    Args:
        resnet (ResNet): detectron2's ResNet, built. A stage whose parameters its ``freeze_at``
            froze cannot take a block.
        after_blocks (dict[str, list[int]]): per stage name ("res2" ... "res5"), the indices of
            the residual blocks that get an NL block right after them (negative: from the end).
            None: the paper's COCO setting, ``{"res4": [-2]}``.
        settings: the block settings, by the lower-case names of the ``MODEL.NONLOCAL`` keys
            (``block``, ``norm``, ``mode``, ...: ``nl_detectron.layers.SETTINGS``).
    Returns:
        ResNet: ``resnet``, changed in place.
    """
    block_kwargs = check_settings(key=lambda name: f"nonlocal_resnet({name}=...)", **settings)
    placement = {"res4": [-2]} if after_blocks is None else after_blocks
    insert_nonlocal_blocks(
        resnet,
        {name: list(indices) for name, indices in placement.items() if len(indices) > 0},
        freeze_at=_freeze_at(resnet),
        placement_key=lambda stage_name: f"nonlocal_resnet(after_blocks={{{stage_name!r}: ...}})",
        freeze_key="the ResNet's freeze_at",
        **block_kwargs,
    )
    return resnet


def _freeze_at(resnet):
    """The ``freeze_at`` a built ResNet was frozen with: its leading frozen modules (stem, res2,
    ...), counted as detectron2 counts them."""
    frozen = 0
    for module in [resnet.stem, *resnet.stages]:
        if any(p.requires_grad for p in module.parameters()):
            break
        frozen += 1
    return frozen


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
