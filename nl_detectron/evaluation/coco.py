"""COCO evaluation of the tasks a model has, with or without detectron2's C++ evaluator."""

import logging

from detectron2.data import MetadataCatalog
from detectron2.evaluation import COCOEvaluator, DatasetEvaluators
from detectron2.utils import comm

from ..utils.compat import has_fast_coco_eval
from .relation import RelationEvaluator


def coco_tasks(cfg):
    """The COCO tasks the model of ``cfg`` predicts: bbox, plus segm and keypoints if on."""
    tasks = ["bbox"]
    if cfg.MODEL.MASK_ON:
        tasks.append("segm")
    if cfg.MODEL.KEYPOINT_ON:
        tasks.append("keypoints")
    return tuple(tasks)


# The metrics detectron2's COCOEvaluator reports per task.
COCO_METRICS = {
    "bbox": ("AP", "AP50", "AP75", "APs", "APm", "APl"),
    "segm": ("AP", "AP50", "AP75", "APs", "APm", "APl"),
    "keypoints": ("AP", "AP50", "AP75", "APm", "APl"),
}


class CheckedCOCOEvaluator(COCOEvaluator):
    """
    ``COCOEvaluator`` that reports a model with no detection on any image as what COCO's
    evaluation makes of it, AP 0 for every metric (pycocotools' precision is 0 where a category
    has ground truth and no detection), with a warning that says why; detectron2 reports NaN.
    """

    def __init__(self, dataset_name, tasks, **kwargs):
        super().__init__(dataset_name, tasks=tasks, **kwargs)
        self.dataset_name, self.tasks = dataset_name, tuple(tasks)

    def reset(self):
        super().reset()
        self._num_detections = 0

    def process(self, inputs, outputs):
        super().process(inputs, outputs)
        self._num_detections += sum(len(o["instances"]) for o in outputs if "instances" in o)

    def evaluate(self, img_ids=None):
        num_detections = sum(comm.all_gather(self._num_detections))
        results = super().evaluate(img_ids)
        if num_detections > 0 or not comm.is_main_process():
            return results
        logging.getLogger(__name__).warning(
            f"{self.dataset_name}: the model detected nothing on any image (score threshold "
            "too high, or an untrained model): every AP is 0"
        )
        return {task: dict.fromkeys(COCO_METRICS[task], 0.0) for task in self.tasks}


def build_coco_evaluator(cfg, dataset_name, output_folder=None):
    """
    ``CheckedCOCOEvaluator`` (detectron2's ``COCOEvaluator``) for the tasks the model has; uses
    pycocotools' evaluator when detectron2's C++ one is absent. Datasets whose metadata has
    ``evaluate_relation`` also get a ``RelationEvaluator``.
    """
    coco = CheckedCOCOEvaluator(
        dataset_name,
        tasks=coco_tasks(cfg),
        distributed=True,
        output_dir=output_folder,
        use_fast_impl=has_fast_coco_eval(),
        kpt_oks_sigmas=cfg.TEST.KEYPOINT_OKS_SIGMAS,
    )
    if MetadataCatalog.get(dataset_name).get("evaluate_relation", False):
        return DatasetEvaluators([coco, RelationEvaluator(dataset_name)])
    return coco
