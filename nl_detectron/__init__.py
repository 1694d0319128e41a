"""
nl_detectron: the non-local block of Wang et al., "Non-local Neural Networks" (CVPR 2018), for
detectron2. Importing this package registers its backbones and the built-in synthetic datasets.
"""

from .config import add_nonlocal_config, load_config
from .data import (
    register_demo_shapes,
    register_lookup_shapes,
    register_partner_shapes,
    register_relation_shapes,
)
from .layers import NonLocalBlock2d
from .modeling import (
    build_resnet_fpn_nl_backbone,
    build_resnet_nl_backbone,
    build_retinanet_resnet_fpn_nl_backbone,
)

register_demo_shapes()
register_relation_shapes()
register_partner_shapes()
register_lookup_shapes()

__all__ = [
    "add_nonlocal_config",
    "load_config",
    "NonLocalBlock2d",
    "build_resnet_fpn_nl_backbone",
    "build_resnet_nl_backbone",
    "build_retinanet_resnet_fpn_nl_backbone",
]
