from .coco import COCO_METRICS, CheckedCOCOEvaluator, build_coco_evaluator, coco_tasks
from .relation import RelationEvaluator
from .report import compare_markdown, flatten_results, report_markdown, write_report

__all__ = [
    "COCO_METRICS",
    "CheckedCOCOEvaluator",
    "RelationEvaluator",
    "build_coco_evaluator",
    "coco_tasks",
    "compare_markdown",
    "flatten_results",
    "report_markdown",
    "write_report",
]
