"""benchmarks/feature_probe.py: each object's shape and label, and the table on an untrained
model."""

import os

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog, MetadataCatalog
from detectron2.modeling import build_model

from nl_detectron.config import load_config
from nl_detectron.data.synthetic import SHAPES
from tests.helpers import REPO_ROOT, load_script

CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_partner.yaml")


def test_shapes_and_labels_of_the_lookup_and_partner_objects():
    script = load_script("benchmarks/feature_probe.py")
    classes = MetadataCatalog.get("nl_lookup_shapes_val").thing_classes
    for a in DatasetCatalog.get("nl_lookup_shapes_val")[0]["annotations"]:
        shape, label = script.targets("nl_lookup_shapes_val", a)
        assert classes[a["category_id"]] == f"{SHAPES[shape]}_{('red', 'blue')[label]}"
    for a in DatasetCatalog.get("nl_partner_shapes_val")[0]["annotations"]:
        shape, label = script.targets("nl_partner_shapes_val", a)
        vertices = len(a["segmentation"][0]) // 2
        assert SHAPES[shape] == {32: "circle", 4: "square", 3: "triangle"}[vertices]
        assert label == a["category_id"]


def test_the_table_of_an_untrained_model(tmp_path, capsys):
    torch.manual_seed(0)
    model = build_model(load_config(CONFIG, ["MODEL.DEVICE", "cpu"]))
    DetectionCheckpointer(model, str(tmp_path)).save("untrained")
    load_script("benchmarks/feature_probe.py").main(
        ["--config-file", CONFIG, "--weights", str(tmp_path / "untrained.pth")]
        + ["--dataset", "nl_partner_shapes_val", "--images", "8"]
    )
    row = capsys.readouterr().out.splitlines()[-1]
    assert row.startswith(f"| {tmp_path / 'untrained.pth'} | 32 |")
