from .coco_json import DatasetError, register_coco_json
from .demo_shapes import register_demo_shapes
from .mapper import CheckedDatasetMapper

__all__ = ["CheckedDatasetMapper", "DatasetError", "register_coco_json", "register_demo_shapes"]
