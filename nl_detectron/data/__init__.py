from .coco_json import DatasetError, register_coco_json
from .common import SkippingMapDataset
from .demo_shapes import register_demo_shapes
from .mapper import CheckedDatasetMapper

__all__ = [
    "CheckedDatasetMapper",
    "DatasetError",
    "SkippingMapDataset",
    "register_coco_json",
    "register_demo_shapes",
]
