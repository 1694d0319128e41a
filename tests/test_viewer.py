"""
The HTML attention viewer: its stored rows against ``NonLocalBlock2d.attention_map``, and, in
headless Chromium, two clicks that redraw the maps and show the model's attention.
"""

import base64
import json
import os
import re
import shutil
import time

import numpy as np
import pytest
import torch

from detectron2.data import DatasetCatalog
from detectron2.data.detection_utils import read_image
from detectron2.structures import Boxes, BoxMode, Instances

from nl_detectron.analysis import BlockCapture
from nl_detectron.config import load_config
from nl_detectron.visualization.predictions import PredictionVisualizer
from nl_detectron.visualization.viewer import (
    dequantize,
    quantize_rows,
    strided_queries,
    viewer_data,
    write_viewer,
)
from tests.helpers import (
    KEYPOINT_DEMO,
    SMALL_IMAGES,
    call_tool,
    command_line,
    run_tool,
)

OPTS = command_line(SMALL_IMAGES)
IMAGE = os.path.join(os.environ["DETECTRON2_DATASETS"], "nl_demo_shapes", "val", "0001.png")
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


def test_quantised_rows_are_within_half_a_step_of_the_weights():
    rows = torch.rand(50, 37, dtype=torch.float64).softmax(dim=1)
    rows[3] = 0  # a row of zeros stays zeros
    q, scale = quantize_rows(rows)
    assert q.dtype == np.uint8 and q.max() == 255
    error = np.abs(dequantize(q, scale) - rows.numpy())
    assert (error <= scale[:, None] / 510 + 1e-7).all()
    assert (dequantize(q, scale)[3] == 0).all()


def test_strided_queries_keep_every_stride_th_cell_from_the_first():
    cells = strided_queries(5, 7, 2)
    assert cells.tolist()[:4] == [[0, 0], [0, 2], [0, 4], [0, 6]]
    assert len(cells) == 3 * 4 and cells.max(axis=0).tolist() == [4, 6]


def detect_ground_truth(roi_heads, record):
    """
    Make ``roi_heads`` detect the objects of ``record`` (a dataset dict), score 1, in place of
    its box head's detections: the boxes of a briefly trained model depend on the machine and the
    thread count (with one thread, all at the image's edge), and the viewer's keypoint-head blocks
    need RoIs inside the image. The keypoint head and its NL blocks run on these boxes as usual.
    """

    def forward_box(features, proposals):
        (h, w), annotations = proposals[0].image_size, record["annotations"]
        xyxy = [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in annotations]
        scale = torch.tensor([w / record["width"], h / record["height"]] * 2)
        detections = Instances((h, w))
        detections.pred_boxes = Boxes(torch.tensor(xyxy) * scale)
        detections.scores = torch.ones(len(annotations))
        detections.pred_classes = torch.tensor([a["category_id"] for a in annotations])
        return [detections]

    roi_heads._forward_box = forward_box


@pytest.fixture(scope="module")
def keypoint_viewer(tmp_path_factory, keypoint_weights):
    """A keypoint NL model's viewer of one demo image, with the blocks' captured inputs."""
    records = DatasetCatalog.get("nl_demo_shapes_val")  # generates the images on first use
    out = tmp_path_factory.mktemp("viewer")
    cfg = load_config(KEYPOINT_DEMO, [*OPTS, "MODEL.WEIGHTS", keypoint_weights])
    visualizer = PredictionVisualizer(cfg)
    record = next(r for r in records if os.path.samefile(r["file_name"], IMAGE))
    detect_ground_truth(visualizer.predictor.model.roi_heads, record)
    capture = BlockCapture(visualizer.predictor.model)
    image = read_image(IMAGE, format="BGR")
    predictions, drawn = visualizer.draw(image)
    data = viewer_data(visualizer.predictor, image, drawn, capture)
    path = out / "viewer.html"
    write_viewer(path, data, "test viewer")
    return path, data, capture, predictions["instances"]


def stored_row(entry, map_index, cell):
    """The dequantised row the viewer stores for a query cell (row, column)."""
    kh, kw = entry["key_grid"]
    q = np.frombuffer(_b64(entry["maps"][map_index]["rows"]), np.uint8).reshape(-1, kh * kw)
    scale = np.frombuffer(_b64(entry["maps"][map_index]["scales"]), "<f4")
    index = cell[0] // entry["stride"] * -(-entry["grid"][1] // entry["stride"]) + cell[1]
    return dequantize(q, scale)[index], scale[index]


def _b64(text):
    return base64.b64decode(text)


def model_row(capture, name, map_index, cell):
    block = capture.blocks[name]
    x = capture.calls[name][0]
    x = x if map_index is None else x[map_index : map_index + 1]
    return block.attention_map(x, [cell])[0, 0].flatten().double().numpy()


def test_viewer_stores_every_block_and_every_detection(keypoint_viewer):
    path, data, capture, instances = keypoint_viewer
    names = [entry["name"] for entry in data["blocks"]]
    assert names == list(capture.blocks)  # backbone blocks and the keypoint head's four
    assert sum(entry["kind"] == "roi" for entry in data["blocks"]) == 4
    assert len(instances) > 0
    for entry in data["blocks"]:
        rois = len(capture.rois)  # the head's RoIs: the detections before
        assert len(entry["maps"]) == (1 if entry["kind"] == "image" else rois)  # post-processing
        h, w = entry["grid"]
        for map_index, stored in enumerate(entry["maps"]):
            assert set(stored["statistics"]) >= {"attention_distance", "entropy"}
            for cell in [(0, 0), (h - 1, w - 1), (h // 2, w // 3)]:
                got, scale = stored_row(entry, map_index, cell)
                roi = None if entry["kind"] == "image" else map_index
                want = model_row(capture, entry["name"], roi, cell)
                np.testing.assert_allclose(got, want, atol=scale / 510 + 1e-6)
    text = path.read_text()
    # self-contained: nothing fetched from anywhere
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text)
    assert "<link" not in text and "import(" not in text


def test_rows_hold_every_query_by_every_key(keypoint_viewer):
    for entry in keypoint_viewer[1]["blocks"]:
        assert entry["stride"] == 1
        (h, w), (kh, kw) = entry["grid"], entry["key_grid"]
        assert all(len(_b64(m["rows"])) == h * w * kh * kw for m in entry["maps"])


def test_tool_writes_the_viewer_and_refuses_a_bad_stride(capsys, tmp_path, keypoint_weights):
    args = ["--config-file", KEYPOINT_DEMO, "--input", IMAGE, "--output", str(tmp_path)]
    opts = [*OPTS, "MODEL.WEIGHTS", keypoint_weights]
    code, output = run_tool("attention_maps.py", *args, "--html", "--query-stride", "2", *opts)
    assert code == 0, output[-3000:]
    text = (tmp_path / "0001_attention.html").read_text()
    data = json.loads(re.search(r'id="nl-data"[^>]*>(.*?)</script>', text, re.S).group(1))
    # every second query cell of each block's grid, every key
    for entry in data["blocks"]:
        (h, w), (kh, kw) = entry["grid"], entry["key_grid"]
        assert entry["stride"] == 2
        rows = -(-h // 2) * -(-w // 2) * kh * kw
        assert all(len(_b64(m["rows"])) == rows for m in entry["maps"])
    code = call_tool("attention_maps", *args, "--html", "--query-stride", "0", *opts)
    assert code == 2 and "--query-stride must be 1 or more, got 0" in capsys.readouterr().err


def browser():
    """Headless Chromium from Debian's packages, driven by selenium; skips naming what lacks."""
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e .[dev])"
    )
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(path):
            pytest.skip(
                f"{path} is missing: python tools/setup_env.py --browser installs Debian's "
                "chromium and chromium-driver"
            )
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1400,1100")
    options.binary_location = CHROMIUM
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def open_viewer(driver, path):
    """Load the viewer file ``path`` and wait until it has decoded its data."""
    driver.get(path.as_uri())
    for _ in range(100):
        if driver.execute_script("return window.nlViewer && window.nlViewer.ready"):
            return
        time.sleep(0.1)
    pytest.fail(f"the viewer never got ready: {driver.get_log('browser')}")


def click(driver, canvas, x, y, scale):
    """Click image pixel (x, y) of the viewer's main canvas (drawn at ``scale``)."""
    from selenium.webdriver.common.action_chains import ActionChains

    size = canvas.size  # offsets are from the element's centre
    dx, dy = x * scale - size["width"] / 2, y * scale - size["height"] / 2
    ActionChains(driver).move_to_element_with_offset(canvas, round(dx), round(dy)).click().perform()
    return driver.execute_script("return window.nlViewer.state")


def test_clicks_in_chromium_show_the_models_attention(keypoint_viewer):
    path, data, capture, instances = keypoint_viewer
    driver = browser()
    try:
        open_viewer(driver, path)
        from selenium.webdriver.common.by import By

        canvas = driver.find_element(By.ID, "main")
        scale = canvas.size["width"] / data["width"]
        backbone = data["blocks"][0]["name"]
        panel = driver.find_element(By.CSS_SELECTOR, f'div[data-block="{backbone}"] canvas')
        # the centre of the largest part of a RoI box that lies 3 pixels inside the image
        roi_boxes = [m["box"] for e in data["blocks"] if e["kind"] == "roi" for m in e["maps"]]
        inner = [
            (
                max(b[0], 3.0),
                max(b[1], 3.0),
                min(b[2], data["width"] - 3.0),
                min(b[3], data["height"] - 3.0),
            )
            for b in roi_boxes
        ]
        x0, y0, x1, y1 = max(inner, key=lambda b: min(b[2] - b[0], b[3] - b[1]))
        assert min(x1 - x0, y1 - y0) > 4.0 / scale, f"no RoI box lies inside the image: {roi_boxes}"
        inside = ((x0 + x1) / 2, (y0 + y1) / 2)
        points = [inside, (5.0, data["height"] - 5.0)]
        drawn, heads_shown, queries = [], [], []
        for x, y in points:
            state = click(driver, canvas, x, y, scale)
            # offsets are whole pixels of the canvas, from its centre
            assert state["query"] == pytest.approx([x, y], abs=2.0 / scale)
            queries.append(state["query"])
            drawn.append(driver.execute_script("return arguments[0].toDataURL()", panel))
            heads_shown.append(sum(shown is not None for shown in state["blocks"].values()) - 1)
            for entry in data["blocks"]:
                shown = state["blocks"][entry["name"]]
                if entry["kind"] == "roi" and shown is None:
                    continue  # the point lies in no detection
                roi = shown["roi"]
                want = model_row(capture, entry["name"], roi, shown["cell"])
                scale_k = want.max()
                np.testing.assert_allclose(shown["values"], want, atol=scale_k / 510 + 1e-6)
        assert drawn[0] != drawn[1]  # the backbone block's map changed with the query
        # the head's 4 blocks show a RoI exactly where a RoI box holds the point
        holds = [
            any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in roi_boxes) for x, y in queries
        ]
        assert heads_shown == [4 * h for h in holds] and holds[0]
        screenshot = os.environ.get("NL_VIEWER_SCREENSHOT")
        if screenshot:
            click(driver, canvas, *points[0], scale)
            driver.save_screenshot(screenshot)
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def family_viewers(tmp_path_factory, keypoint_weights):
    """Viewers of the keypoint demo model with GC and with DNL blocks: the NL model's trained
    weights but the blocks' (a seeded keypoint head's heatmaps make detectron2's decoding
    assert), new blocks as they start."""
    records = DatasetCatalog.get("nl_demo_shapes_val")
    record = next(r for r in records if os.path.samefile(r["file_name"], IMAGE))
    out, viewers = tmp_path_factory.mktemp("family"), {}
    for block in ("gc", "disentangled"):
        torch.manual_seed(0)
        opts = [*OPTS, "MODEL.NONLOCAL.BLOCK", block, "MODEL.WEIGHTS", keypoint_weights]
        cfg = load_config(KEYPOINT_DEMO, opts)
        visualizer = PredictionVisualizer(cfg)
        detect_ground_truth(visualizer.predictor.model.roi_heads, record)
        capture = BlockCapture(visualizer.predictor.model)
        image = read_image(IMAGE, format="BGR")
        _, drawn = visualizer.draw(image)
        data = viewer_data(visualizer.predictor, image, drawn, capture, query_stride=2)
        write_viewer(out / f"{block}.html", data, block)
        viewers[block] = (out / f"{block}.html", data, capture)
    return viewers


def test_gc_viewer_stores_one_map_per_input(family_viewers):
    _, data, capture = family_viewers["gc"]
    assert [e["name"] for e in data["blocks"]] == list(capture.blocks)
    for entry in data["blocks"]:
        assert entry["query_independent"] and entry["label"].startswith("global context")
        block, x = capture.blocks[entry["name"]], capture.calls[entry["name"]][0]
        (kh, kw) = entry["key_grid"]
        for i, stored in enumerate(entry["maps"]):
            assert len(_b64(stored["rows"])) == kh * kw  # one row: every query's
            got, scale = stored_row(entry, i, (0, 0))
            want = block.context_weights(x[i : i + 1])[0].detach().double().numpy()
            np.testing.assert_allclose(got, want, atol=scale / 510 + 1e-6)


def test_dnl_viewer_shows_the_pairwise_and_the_unary_term_side_by_side(family_viewers):
    path, data, capture = family_viewers["disentangled"]
    names = [e["name"] for e in data["blocks"]]
    assert names == [n for block in capture.blocks for n in (block, f"{block}:unary")]
    driver = browser()
    try:
        open_viewer(driver, path)
        from selenium.webdriver.common.by import By

        canvas = driver.find_element(By.ID, "main")
        scale = canvas.size["width"] / data["width"]
        state = click(driver, canvas, 40.0, 150.0, scale)
        backbone = data["blocks"][0]["name"]
        x = capture.calls[backbone][0]
        block = capture.blocks[backbone]
        pairwise, unary = state["blocks"][backbone], state["blocks"][f"{backbone}:unary"]
        # The model's row for the clicked query, computed with the other stored queries as the
        # viewer computes it: DNL's logits are scaled by 1 / 0.05, and a trained block's rows
        # for one query alone differ from those in a batch by float32's rounding, amplified
        # past the quantisation's half step.
        queries = strided_queries(*x.shape[-2:], data["blocks"][0]["stride"])
        index = [tuple(q) for q in queries.tolist()].index(tuple(pairwise["cell"]))
        want = block.attention_map(x, queries)[0, index].flatten().double().numpy()
        np.testing.assert_allclose(pairwise["values"], want, atol=want.max() / 510 + 1e-6)
        want = block.query_independent_terms(x)[0][2][0].double().numpy()
        np.testing.assert_allclose(unary["values"], want, atol=want.max() / 510 + 1e-6)
        titles = driver.find_elements(By.CSS_SELECTOR, "div.block h2")
        assert any("unary term" in t.text for t in titles)
    finally:
        driver.quit()
