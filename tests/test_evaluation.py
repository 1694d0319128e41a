import numpy as np
import pytest
import torch

from detectron2.data import DatasetCatalog, detection_utils
from detectron2.evaluation import DatasetEvaluators
from detectron2.structures import Instances

from nl_detectron.evaluation import RelationEvaluator, build_coco_evaluator, coco_tasks
from tests.helpers import small_cfg


def _ground_truth_as_predictions(dataset_dicts):
    inputs, outputs = [], []
    for d in dataset_dicts:
        # as DatasetMapper leaves them: keypoints (K, 3)
        annos = [dict(a, keypoints=np.reshape(a["keypoints"], (-1, 3))) for a in d["annotations"]]
        gt = detection_utils.annotations_to_instances(
            annos, (d["height"], d["width"]), mask_format="bitmask"
        )
        pred = Instances(gt.image_size)
        pred.pred_boxes = gt.gt_boxes
        pred.scores = torch.ones(len(gt))
        pred.pred_classes = gt.gt_classes
        pred.pred_masks = gt.gt_masks.tensor
        keypoints = gt.gt_keypoints.tensor.clone()
        keypoints[:, :, 2] = 1.0  # score column
        pred.pred_keypoints = keypoints
        inputs.append({"image_id": d["image_id"]})
        outputs.append({"instances": pred})
    return inputs, outputs


def test_coco_tasks_follow_the_model():
    assert coco_tasks(small_cfg()) == ("bbox", "segm")
    assert coco_tasks(small_cfg("MODEL.KEYPOINT_ON", True)) == ("bbox", "segm", "keypoints")


def test_coco_evaluation_of_the_ground_truth_is_perfect(tmp_path):
    cfg = small_cfg("MODEL.KEYPOINT_ON", True, "TEST.KEYPOINT_OKS_SIGMAS", [0.05, 0.05, 0.05, 0.05])
    dataset = DatasetCatalog.get("nl_demo_shapes_val")
    evaluator = build_coco_evaluator(cfg, "nl_demo_shapes_val", str(tmp_path))
    evaluator.reset()
    evaluator.process(*_ground_truth_as_predictions(dataset))
    results = evaluator.evaluate()
    assert set(results) == {"bbox", "segm", "keypoints"}
    for task in results:
        assert results[task]["AP"] == pytest.approx(100.0), (task, results[task])
    assert (tmp_path / "coco_instances_results.json").exists()


def test_coco_evaluation_of_wrong_classes_is_poor(tmp_path):
    """The check above can fail: shifting every class gives no true positive."""
    dataset = DatasetCatalog.get("nl_demo_shapes_val")
    inputs, outputs = _ground_truth_as_predictions(dataset)
    for out in outputs:
        out["instances"].pred_classes = (out["instances"].pred_classes + 1) % 3
    evaluator = build_coco_evaluator(small_cfg(), "nl_demo_shapes_val", str(tmp_path))
    evaluator.reset()
    evaluator.process(inputs, outputs)
    assert evaluator.evaluate()["bbox"]["AP"] == pytest.approx(0.0)


def test_no_detection_on_any_image_is_ap_0_with_a_warning(tmp_path, caplog):
    """COCO's evaluation gives precision 0 where a category has ground truth and no detection;
    detectron2's evaluator stops at NaN instead."""
    cfg = small_cfg("MODEL.KEYPOINT_ON", True, "TEST.KEYPOINT_OKS_SIGMAS", [0.05, 0.05, 0.05, 0.05])
    dataset = DatasetCatalog.get("nl_demo_shapes_val")
    inputs, outputs = _ground_truth_as_predictions(dataset)
    for out in outputs:
        out["instances"] = out["instances"][:0]
    evaluator = build_coco_evaluator(cfg, "nl_demo_shapes_val", str(tmp_path))
    evaluator.reset()
    evaluator.process(inputs, outputs)
    results = evaluator.evaluate()
    assert set(results) == {"bbox", "segm", "keypoints"}
    assert all(v == 0.0 for task in results.values() for v in task.values()), results
    assert "detected nothing on any image" in caplog.text
    # One detection left: detectron2's evaluation as usual.
    outputs[0]["instances"] = _ground_truth_as_predictions(dataset[:1])[1][0]["instances"]
    evaluator.reset()
    evaluator.process(inputs, outputs)
    assert 0.0 < evaluator.evaluate()["bbox"]["AP"] < 100.0


def _relation_predictions(dataset, flip):
    """The ground truth as detections, each object's class flipped where ``flip(index)``."""
    inputs, outputs = [], []
    index = 0
    for d in dataset:
        annotations = [dict(a, category_id=1 - a["category_id"]) if flip(index + i) else a
                       for i, a in enumerate(d["annotations"])]  # fmt: skip
        index += len(annotations)
        gt = detection_utils.annotations_to_instances(annotations, (d["height"], d["width"]))
        pred = Instances(gt.image_size)
        pred.pred_boxes, pred.pred_classes = gt.gt_boxes, gt.gt_classes
        pred.scores = torch.ones(len(gt))
        inputs.append({"image_id": d["image_id"]})
        outputs.append({"instances": pred})
    return inputs, outputs, index


def test_relation_accuracy_counts_the_found_objects_labelled_right(tmp_path):
    dataset = DatasetCatalog.get("nl_relation_shapes_val")
    cfg = small_cfg("MODEL.MASK_ON", False, "MODEL.ROI_HEADS.NUM_CLASSES", 2)
    evaluator = build_coco_evaluator(cfg, "nl_relation_shapes_val", str(tmp_path))
    assert isinstance(evaluator, DatasetEvaluators)  # COCO's AP and the relation's accuracy
    relation = RelationEvaluator("nl_relation_shapes_val")
    for flip, accuracy in ((lambda i: False, 100.0), (lambda i: True, 0.0)):
        relation.reset()
        inputs, outputs, total = _relation_predictions(dataset, flip)
        relation.process(inputs, outputs)
        assert relation.evaluate() == {"relation": {"accuracy": accuracy, "found": 100.0}}
    relation.reset()
    inputs, outputs, total = _relation_predictions(dataset, lambda i: i % 4 == 0)
    kept = [i % 2 == 1 for i, d in enumerate(dataset) for _ in d["annotations"]]
    for output in outputs[::2]:  # every other image's detections lost
        output["instances"] = output["instances"][:0]
    relation.process(inputs, outputs)
    found = sum(kept)
    right = sum(keep and i % 4 != 0 for i, keep in enumerate(kept))
    result = relation.evaluate()["relation"]
    assert result["found"] == pytest.approx(100.0 * found / total)
    assert result["accuracy"] == pytest.approx(100.0 * right / found)
