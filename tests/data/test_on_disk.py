"""A dataset that a config names but that is not on disk: one message, exit status 2."""

import glob
import os

import pytest

from nl_detectron.config import load_any_config
from nl_detectron.data import DatasetNotFoundError, check_datasets_on_disk
from nl_detectron.engine.defaults import config_datasets
from tests.helpers import REPO_ROOT, call_tool


def _reads_synthetic_data(path):
    """The demo configs (configs/demo, and the Python ones that name the shapes) read synthetic
    datasets generated on first use."""
    with open(path) as f:
        return os.sep + "demo" + os.sep in path or "nl_demo_shapes" in f.read()


# Every config that reads detectron2's built-in datasets.
BUILTIN_CONFIGS = sorted(
    os.path.relpath(p, REPO_ROOT)
    for p in glob.glob(os.path.join(REPO_ROOT, "configs", "**", "*.*"), recursive=True)
    if p.endswith((".yaml", ".py")) and "Base-" not in p and not _reads_synthetic_data(p)
)


@pytest.mark.parametrize("config", BUILTIN_CONFIGS)
def test_every_configs_datasets_are_checked(config):
    cfg = load_any_config(os.path.join(REPO_ROOT, config), [])
    names = config_datasets(cfg)
    assert all(names.values()), names
    # The tests' DETECTRON2_DATASETS holds the demo dataset only.
    with pytest.raises(DatasetNotFoundError) as error:
        check_datasets_on_disk(names)
    message = str(error.value)
    assert "does not exist" in message and "coco/" in message
    assert "DETECTRON2_DATASETS" in message and "docs/training.md" in message
    assert config_datasets(cfg, eval_only=True).keys() == {list(names)[-1]}


def test_a_dataset_whose_files_exist_passes(tmp_path):
    from detectron2.data import DatasetCatalog, MetadataCatalog

    (tmp_path / "annotations").mkdir()
    (tmp_path / "train2017").mkdir()
    json_file = tmp_path / "annotations" / "instances.json"
    json_file.write_text("{}")
    DatasetCatalog.register("on_disk_coco_like", list)
    MetadataCatalog.get("on_disk_coco_like").set(
        json_file=str(json_file), image_root=str(tmp_path / "train2017")
    )
    names = {"DATASETS.TRAIN": ["on_disk_coco_like", "nl_demo_shapes_train"]}
    check_datasets_on_disk(names)
    (tmp_path / "train2017").rmdir()
    with pytest.raises(DatasetNotFoundError, match="'on_disk_coco_like' needs .*train2017"):
        check_datasets_on_disk(names)
    check_datasets_on_disk(names, skip={"on_disk_coco_like"})


def test_an_unregistered_name_is_named():
    with pytest.raises(DatasetNotFoundError, match="DATASETS.TRAIN names dataset 'my_data'"):
        check_datasets_on_disk({"DATASETS.TRAIN": ["my_data"]})


@pytest.mark.parametrize(
    "tool, config",
    [
        ("train_net", "configs/mask_rcnn_R50_NL.yaml"),
        ("lazyconfig_train_net", "configs/lazy/mask_rcnn_R50_NL_100ep_LSJ.py"),
    ],
)
def test_the_main_job_without_coco_is_one_message_and_status_2(tool, config, monkeypatch, capsys):
    # detectron2 registers COCO under $DETECTRON2_DATASETS when imported: the tests' folder
    # (conftest.py), which holds no COCO.
    root = os.environ["DETECTRON2_DATASETS"]
    monkeypatch.chdir(REPO_ROOT)
    assert call_tool(tool, "--config-file", config) == 2
    err = capsys.readouterr().err
    json_file = os.path.join(root, "coco", "annotations", "instances_train2017.json")
    assert f"needs {json_file}, which does not exist" in err
    assert f"$DETECTRON2_DATASETS = {root}" in err
    assert "coco/train2017/" in err and "docs/training.md" in err
