"""
A COCO results JSON (from COCOEvaluator or tools/demo.py) drawn next to the ground truth of a
registered dataset, with detectron2's Visualizer, as detectron2's visualize_json_results does.
"""

import json
import os
from collections import defaultdict

import cv2
import numpy as np
import pycocotools.mask as mask_util
import torch

from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.structures import Boxes, BoxMode, Instances
from detectron2.utils.visualizer import Visualizer


def read_predictions(json_file):
    """{image_id: [prediction dicts]} of a COCO results JSON; errors name the file."""
    try:
        with open(json_file) as f:
            predictions = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{json_file}: not a valid JSON file ({e})") from None
    if not isinstance(predictions, list):
        raise ValueError(f"{json_file}: a COCO results file is a JSON list of predictions")
    by_image = defaultdict(list)
    for p in predictions:
        by_image[p["image_id"]].append(p)
    return by_image


def predictions_to_instances(predictions, image_size, metadata, score_threshold):
    """detectron2 ``Instances`` of the predictions of one image scoring at least the threshold."""
    kept = [p for p in predictions if p["score"] >= score_threshold]
    to_contiguous = getattr(metadata, "thing_dataset_id_to_contiguous_id", None)
    instances = Instances(image_size)
    boxes = np.array([p["bbox"] for p in kept], dtype=np.float64).reshape(-1, 4)
    instances.pred_boxes = Boxes(BoxMode.convert(boxes, BoxMode.XYWH_ABS, BoxMode.XYXY_ABS))
    instances.scores = torch.tensor([p["score"] for p in kept], dtype=torch.float32)
    classes = [to_contiguous[p["category_id"]] if to_contiguous else p["category_id"] for p in kept]
    instances.pred_classes = torch.tensor(classes, dtype=torch.int64)
    if kept and "segmentation" in kept[0]:
        instances.pred_masks = torch.from_numpy(
            np.stack([mask_util.decode(p["segmentation"]) for p in kept]).astype(bool)
        )
    if kept and "keypoints" in kept[0]:
        instances.pred_keypoints = torch.tensor([p["keypoints"] for p in kept]).reshape(
            len(kept), -1, 3
        )
    return instances


def draw_json_results(dataset_name, json_file, output_dir, score_threshold=0.5, limit=None):
    """
    One PNG per image of ``dataset_name``: ground truth on the left, predictions on the right.

    Returns:
        list[str]: the written paths.
    """
    predictions = read_predictions(json_file)
    metadata = MetadataCatalog.get(dataset_name)
    os.makedirs(output_dir, exist_ok=True)
    written = []
    for d in DatasetCatalog.get(dataset_name)[:limit]:
        image = read_image(d["file_name"], format="RGB")
        gt = Visualizer(image, metadata).draw_dataset_dict(d).get_image()
        instances = predictions_to_instances(
            predictions.get(d["image_id"], []), image.shape[:2], metadata, score_threshold
        )
        pred = Visualizer(image, metadata).draw_instance_predictions(instances).get_image()
        path = os.path.join(
            output_dir, os.path.splitext(os.path.basename(d["file_name"]))[0] + ".png"
        )
        cv2.imwrite(path, np.concatenate([gt, pred], axis=1)[:, :, ::-1])
        written.append(path)
    return written
