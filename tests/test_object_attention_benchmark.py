"""benchmarks/object_attention.py: the related object of each task's objects, and the table, on an
untrained lookup model (random weights, 2 validation images)."""

import json
import os

import cv2
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from nl_detectron.config import load_config
from nl_detectron.data.lookup_shapes import END_WIDTH, IMAGE_WIDTH
from nl_detectron.data.relation_shapes import CUE_WIDTH
from tests.helpers import REPO_ROOT, cue_side, load_script

CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_lookup.yaml")


def test_a_lookup_query_is_related_to_the_key_of_its_shape_at_the_other_end():
    related = load_script("benchmarks/object_attention.py").related_boxes("nl_lookup_shapes_val")
    classes = MetadataCatalog.get("nl_lookup_shapes_val").thing_classes
    with open(MetadataCatalog.get("nl_lookup_shapes_val").json_file) as f:
        keys = {entry["id"]: entry["keys"] for entry in json.load(f)["images"]}
    for d in DatasetCatalog.get("nl_lookup_shapes_val")[:5]:
        for annotation, box in zip(d["annotations"], related(d, None)):
            boxes = {tuple(x for x in _xyxy(k["bbox"])): k for k in keys[d["image_id"]]}
            key = boxes[tuple(box)]  # one of the image's keys
            # its shape and colour are the query's category (contiguous ids from 0 in the dict)
            assert classes[annotation["category_id"]] == f"{key['identity']}_{key['label']}"
            query_x = annotation["bbox"][0]
            assert (box[2] <= END_WIDTH) != (query_x < END_WIDTH)  # opposite ends
            assert box[0] >= IMAGE_WIDTH - END_WIDTH or box[2] <= END_WIDTH


def _xyxy(bbox):
    x, y, w, h = bbox
    return [x, y, x + w, y + h]


def test_the_demos_have_no_related_object():
    assert load_script("benchmarks/object_attention.py").related_boxes("nl_demo_shapes_val") is None


def test_the_table_of_an_untrained_model(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model(load_config(CONFIG, ["MODEL.DEVICE", "cpu"]))
    DetectionCheckpointer(model, str(tmp_path)).save("untrained")
    path = tmp_path / "numbers.json"
    args = ["--config-file", CONFIG, "--weights", str(tmp_path / "untrained.pth")]
    args += ["--dataset", "nl_lookup_shapes_val", "--images", "2", "--json", str(path)]
    load_script("benchmarks/object_attention.py").main(args)
    table = capsys.readouterr().out
    assert "| backbone.bottom_up.res4.nonlocal" in table
    numbers = next(iter(json.load(open(path)).values()))
    (block,) = numbers.values()
    # random embeddings: the shares are positive, the distances within [0, 2]
    assert block["related"] > 0 and block["own"] > 0
    assert 0 <= block["object_distance"] <= 2 and 0 <= block["query_distance"] <= 2


def test_a_relational_object_is_related_to_the_cue_stripe():
    related = load_script("benchmarks/object_attention.py").related_boxes("nl_relation_shapes_val")
    for d in DatasetCatalog.get("nl_relation_shapes_val")[:5]:
        image = cv2.imread(d["file_name"])
        side, _ = cue_side(image)
        h, w = image.shape[:2]
        box = [0, 0, CUE_WIDTH, h] if side == "left" else [w - CUE_WIDTH, 0, w, h]
        assert related(d, image) == [box] * len(d["annotations"])
