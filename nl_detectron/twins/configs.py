"""The baseline twin of an NL config: the same config with detectron2's own backbone and keypoint
head."""

import copy

from omegaconf import DictConfig

from ..config import add_nonlocal_config, is_lazy
from ..modeling import NL_BACKBONES, NL_KEYPOINT_HEADS, nonlocal_resnet


def baseline_twin(cfg):
    """
    A copy of ``cfg`` with detectron2's own backbone and keypoint head: no NL block. For a
    Python config, the ResNet its ``nonlocal_resnet`` wraps.
    """
    if is_lazy(cfg):
        return lazy_baseline_twin(cfg)
    twin = cfg.clone()
    twin.defrost()
    twin.MODEL.BACKBONE.NAME = NL_BACKBONES.get(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.NAME)
    head = cfg.MODEL.ROI_KEYPOINT_HEAD.NAME
    twin.MODEL.ROI_KEYPOINT_HEAD.NAME = NL_KEYPOINT_HEADS.get(head, head)
    return twin


def lazy_baseline_twin(cfg):
    """
    A copy of the Python config ``cfg`` whose ``model.backbone.bottom_up`` (or
    ``model.backbone``), a ``nonlocal_resnet``, is replaced by the ResNet it wraps.

    Raises:
        ValueError: the config wraps no ResNet with ``nonlocal_resnet`` there.
    """
    twin = copy.deepcopy(cfg)
    backbone = twin.model.backbone
    if _is_nonlocal_resnet(backbone.get("bottom_up")):
        in_features = list(backbone.bottom_up.resnet.out_features)
        backbone.bottom_up = backbone.bottom_up.resnet
        if "in_features" in backbone:  # it may have read the wrapped ResNet's out_features
            backbone.in_features = in_features
    elif _is_nonlocal_resnet(backbone):
        twin.model.backbone = backbone.resnet
    else:
        raise ValueError(
            "model.backbone.bottom_up (or model.backbone) of this Python config is not a "
            "nonlocal_resnet: the config builds no NL block, give an NL config"
        )
    return twin


def _is_nonlocal_resnet(node):
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    return target is nonlocal_resnet or str(target).endswith("nonlocal_resnet")


def twin_configs(cfg):
    """
    ``{"baseline": cfg without NL blocks, "NL": cfg}``. The baseline's ``MODEL.NONLOCAL`` is reset
    to the defaults: it builds no NL block, and a changed key would be refused as unused. For a
    Python config, the baseline is ``lazy_baseline_twin(cfg)``.
    """
    if is_lazy(cfg):
        return {"baseline": lazy_baseline_twin(cfg), "NL": cfg}
    baseline = baseline_twin(cfg)
    if baseline.dump() == cfg.dump():
        raise ValueError(
            f"MODEL.BACKBONE.NAME = {cfg.MODEL.BACKBONE.NAME!r} and MODEL.ROI_KEYPOINT_HEAD.NAME "
            f"= {cfg.MODEL.ROI_KEYPOINT_HEAD.NAME!r} build no NL block: give an NL config"
        )
    defaults = baseline.clone()
    add_nonlocal_config(defaults)
    baseline.MODEL.NONLOCAL = defaults.MODEL.NONLOCAL
    return {"baseline": baseline, "NL": cfg}
