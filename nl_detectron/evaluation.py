"""COCO evaluation of the tasks a model has, with or without detectron2's C++ evaluator."""

import logging

import torch

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator, DatasetEvaluators
from detectron2.structures import Boxes, BoxMode, pairwise_iou
from detectron2.utils import comm

from .utils.compat import has_fast_coco_eval


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


class RelationEvaluator(DatasetEvaluator):
    """
    How often a detected object gets its right category, for datasets whose category is a
    relation (``data.relation_shapes``), where AP mixes finding an object with labelling it.
    An object is found where a detection overlaps it with IoU >= 0.5; the highest-scoring such
    detection's class is the model's label for it. Reports, under "relation", ``accuracy``: the
    percentage of found objects labelled right (50 is chance for two balanced categories), and
    ``found``: the percentage of objects found.
    """

    def __init__(self, dataset_name, iou_threshold=0.5):
        self.dataset_name, self.iou_threshold = dataset_name, iou_threshold

    def reset(self):
        self._objects = {
            d["image_id"]: d["annotations"] for d in DatasetCatalog.get(self.dataset_name)
        }
        self._total = self._found = self._right = 0

    def process(self, inputs, outputs):
        for input, output in zip(inputs, outputs):
            annotations = self._objects[input["image_id"]]
            instances = output["instances"].to("cpu")
            self._total += len(annotations)
            if not annotations or not len(instances):
                continue
            gt = torch.tensor(
                [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations]
            )
            iou = pairwise_iou(Boxes(gt), instances.pred_boxes)  # (objects, detections)
            # the highest-scoring detection that overlaps each object enough
            scores = torch.where(iou >= self.iou_threshold, instances.scores, -1.0)
            best = scores.argmax(dim=1)
            found = scores.max(dim=1).values >= 0
            labels = torch.tensor([a["category_id"] for a in annotations])
            self._found += int(found.sum())
            self._right += int((found & (instances.pred_classes[best] == labels)).sum())

    def evaluate(self):
        total, found, right = (
            sum(comm.all_gather(n)) for n in (self._total, self._found, self._right)
        )
        if not comm.is_main_process():
            return {}
        if found == 0:
            logging.getLogger(__name__).warning(
                f"{self.dataset_name}: no object was found, so the relation's accuracy is 0"
            )
        return {
            "relation": {
                "accuracy": 100.0 * right / found if found else 0.0,
                "found": 100.0 * found / total if total else 0.0,
            }
        }


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
