"""The accuracy of a relation's labels, for the built-in relational datasets."""

import logging

import torch

from detectron2.data import DatasetCatalog
from detectron2.evaluation import DatasetEvaluator
from detectron2.structures import Boxes, BoxMode, pairwise_iou
from detectron2.utils import comm


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
