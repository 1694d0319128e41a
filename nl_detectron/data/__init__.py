from .coco_json import DatasetError, register_coco_json
from .common import SkippingMapDataset
from .demo_shapes import register_demo_shapes
from .lookup_shapes import register_lookup_shapes
from .mapper import CheckedDatasetMapper
from .on_disk import DatasetNotFoundError, check_datasets_on_disk
from .partner_shapes import register_partner_shapes
from .relation_shapes import register_relation_shapes

__all__ = [
    "CheckedDatasetMapper",
    "DatasetError",
    "DatasetNotFoundError",
    "SkippingMapDataset",
    "check_datasets_on_disk",
    "register_coco_json",
    "register_demo_shapes",
    "register_lookup_shapes",
    "register_partner_shapes",
    "register_relation_shapes",
]
