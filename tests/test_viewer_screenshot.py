"""benchmarks/viewer_screenshot.py: a viewer of an untrained lookup model, clicked in headless
Chromium and saved (skipped, naming why, without Debian's chromium and chromium-driver)."""

import os
import shutil

import pytest
from PIL import Image

from detectron2.data import DatasetCatalog

from tests.helpers import REPO_ROOT, call_tool, load_script

CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_lookup_hues.yaml")


def test_the_viewer_is_clicked_and_saved(tmp_path):
    script = load_script("benchmarks/viewer_screenshot.py")
    for path in (script.CHROMIUM, script.CHROMEDRIVER):
        if not shutil.which(path):
            pytest.skip(f"{path} is missing: python tools/setup_env.py --browser installs it")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install -e .[dev])")
    image = DatasetCatalog.get("nl_lookup_hues_val")[0]["file_name"]
    args = ["--config-file", CONFIG, "--input", image, "--output", str(tmp_path), "--html"]
    assert call_tool("attention_maps", *args, "MODEL.WEIGHTS", "", "MODEL.DEVICE", "cpu") == 0
    viewer = tmp_path / "0001_attention.html"
    state = script.screenshot(str(viewer), (455, 31), str(tmp_path / "shot.png"), (1100, 520))
    assert state["query"] == pytest.approx([455, 31], abs=3)
    assert Image.open(tmp_path / "shot.png").size[0] == 1100
