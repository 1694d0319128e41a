from .backbone import (
    add_nonlocal_blocks,
    build_resnet_fpn_nl_backbone,
    build_resnet_nl_backbone,
    build_retinanet_resnet_fpn_nl_backbone,
    insert_nonlocal_blocks,
)
from .keypoint_head import KRCNNConvDeconvUpsampleNLHead

__all__ = [
    "KRCNNConvDeconvUpsampleNLHead",
    "add_nonlocal_blocks",
    "build_resnet_fpn_nl_backbone",
    "build_resnet_nl_backbone",
    "build_retinanet_resnet_fpn_nl_backbone",
    "insert_nonlocal_blocks",
]
