from .backbone import (
    NL_BACKBONES,
    add_nonlocal_blocks,
    build_resnet_fpn_nl_backbone,
    build_resnet_nl_backbone,
    build_retinanet_resnet_fpn_nl_backbone,
    insert_nonlocal_blocks,
    nonlocal_resnet,
)
from .keypoint_head import NL_KEYPOINT_HEADS, KRCNNConvDeconvUpsampleNLHead

__all__ = [
    "KRCNNConvDeconvUpsampleNLHead",
    "NL_BACKBONES",
    "NL_KEYPOINT_HEADS",
    "add_nonlocal_blocks",
    "build_resnet_fpn_nl_backbone",
    "build_resnet_nl_backbone",
    "build_retinanet_resnet_fpn_nl_backbone",
    "insert_nonlocal_blocks",
    "nonlocal_resnet",
]
