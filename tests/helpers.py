"""Tiny, fast configurations built from the real config files."""

import contextlib
import filecmp
import importlib
import importlib.util
import json
import os
import pickle
import subprocess
import sys

import cv2
import numpy as np
import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.data import DatasetCatalog
from detectron2.modeling import build_model
from detectron2.structures import Boxes, BoxMode

from nl_detectron.config import load_config
from nl_detectron.data.relation_shapes import CUE_COLORS, CUE_WIDTH
from nl_detectron.layers import AttentionBlock, NonLocalBlock2d

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The model of the tests: the fast demo's NL Mask R-CNN R18-FPN (docs/demo.md); the R50 demo
# where a test needs the paper's R50 (a res4 of 6 blocks, the block before its last).
DEMO_CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "mask_rcnn_R18_NL_fast.yaml")
R50_DEMO_CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "mask_rcnn_R50_NL_shapes.yaml")
# Its backbone's NL block: in res4 (2 blocks in R18), before the last.
DEMO_BLOCK = "backbone.bottom_up.res4.nonlocal0"


# The demo config made small for tests: 128-pixel images, evaluated on the 60 validation images
# (KEY: VALUE, as on the command line).
SMALL_IMAGES = {
    "INPUT.MIN_SIZE_TRAIN": "(128,)",
    "INPUT.MAX_SIZE_TRAIN": "128",
    "INPUT.MIN_SIZE_TEST": "128",
    "INPUT.MAX_SIZE_TEST": "128",
    "DATASETS.TEST": "('nl_demo_shapes_val',)",
}
# ... and a short training of it, on the demo's 60 validation images, 2 per batch.
SMALL_TRAINING = {
    **SMALL_IMAGES,
    "DATASETS.TRAIN": "('nl_demo_shapes_val',)",
    "SOLVER.IMS_PER_BATCH": "2",
    "SOLVER.WARMUP_ITERS": "2",
}


def command_line(*overrides):
    """``[KEY, VALUE, ...]`` of ``{KEY: VALUE}`` dicts, later ones winning, for a tool's
    trailing overrides or ``load_config``."""
    merged = {}
    for override in overrides:
        merged.update(override)
    return [str(part) for pair in merged.items() for part in pair]


def small_cfg(*opts, config_file=DEMO_CONFIG):
    """The demo config at 128 pixels, on CPU, with ``opts`` (KEY, VALUE, ...) on top."""
    return load_config(config_file, ["MODEL.DEVICE", "cpu", *command_line(SMALL_IMAGES), *opts])


def baseline_cfg(*opts, **kwargs):
    """``small_cfg`` with detectron2's own backbone: the NL model's baseline twin."""
    return small_cfg("MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone", *opts, **kwargs)


def random_image_inputs(num_images=1, size=128, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return [
        {
            "image": torch.randint(0, 256, (3, size, size), generator=generator).float(),
            "height": size,
            "width": size,
        }
        for _ in range(num_images)
    ]


class RecordingCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` that keeps what ``load`` found missing or unexpected."""

    def _load_model(self, checkpoint):
        self.incompatible = super()._load_model(checkpoint)
        return self.incompatible


def load_checkpoint(model, path):
    """Load ``path`` into ``model`` as detectron2 does; return the incompatible keys."""
    checkpointer = RecordingCheckpointer(model)
    checkpointer.load(str(path))
    return checkpointer.incompatible


def run_tool(script, *args, timeout=900):
    """Run ``tools/<script>`` as a user runs it; returns (exit status, stdout + stderr)."""
    result = subprocess.run(
        [sys.executable, os.path.join(REPO_ROOT, "tools", script), *args],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env=dict(os.environ),
        timeout=timeout,
    )
    return result.returncode, result.stdout + result.stderr


def call_tool(name, *args):
    """
    ``nl_detectron.tools.<name>.main(args)`` in this process, for argument and config-error
    paths (no new process, no second import of torch and detectron2). Returns its exit status;
    an error it raises propagates.
    """
    module = importlib.import_module(f"nl_detectron.tools.{name}")
    try:
        return module.main([str(a) for a in args])
    except SystemExit as e:
        return e.code


def save_pkl(model, path):
    """A checkpoint of ``model`` in detectron2's model-zoo .pkl format: numpy arrays, an author."""
    weights = {k: v.numpy() for k, v in model.state_dict().items()}
    with open(path, "wb") as f:
        pickle.dump({"model": weights, "__author__": "test"}, f)


def check_baseline_checkpoint_predicts_the_same(baseline_cfg, nl_cfg, tmp_path, fields, fmt="pth"):
    """
    The one check that an NL model takes its baseline twin's checkpoint: a model built from
    ``baseline_cfg`` saved (``fmt`` "pth": detectron2's checkpointer; "pkl": the model zoo's
    format) and loaded into the model of ``nl_cfg`` leaves exactly the NL keys missing, nothing
    unexpected or misshapen, and predicts the same ``fields`` (e.g. "pred_boxes", "scores")
    exactly; once its blocks are perturbed, it no longer does (the comparison can fail).
    """
    torch.manual_seed(0)
    baseline = build_model(baseline_cfg).eval()
    path = str(tmp_path / f"baseline.{fmt}")
    if fmt == "pth":
        DetectionCheckpointer(baseline, save_dir=str(tmp_path)).save("baseline")
    else:
        save_pkl(baseline, path)
    nl_model = build_model(nl_cfg).eval()
    incompatible = load_checkpoint(nl_model, path)
    # a batch norm's step count is not reported missing (detectron2 drops it from the list)
    nl_keys = {
        k
        for k in nl_model.state_dict()
        if ".nonlocal" in k and not k.endswith("num_batches_tracked")
    }
    assert nl_keys and set(incompatible.missing_keys) == nl_keys
    assert not incompatible.unexpected_keys and not incompatible.incorrect_shapes

    def same(a, b):
        if len(a) != len(b):
            return False
        pairs = [(a.get(f), b.get(f)) for f in fields]
        return all(torch.equal(*((x.tensor, y.tensor) if hasattr(x, "tensor") else (x, y)))
                   for x, y in pairs)  # fmt: skip

    inputs = random_image_inputs(1)
    with torch.no_grad():
        expected, got = baseline(inputs)[0]["instances"], nl_model(inputs)[0]["instances"]
        assert len(expected) > 0 and same(expected, got), fields
        for module in nl_model.modules():
            if isinstance(module, AttentionBlock):
                perturb(module)
        moved = nl_model(inputs)[0]["instances"]
    assert not same(expected, moved)


def confident_weights(path, out_path, shift=8.0):
    """
    The checkpoint ``path`` with ``shift`` added to the foreground logits' biases of the box
    classifier: every proposal then scores near 1 for some class (a briefly trained model's
    scores can underflow to 0, which leaves nothing detected on one machine and a few boxes on
    another). The scores still depend on the image, through the trained weights.
    """
    state = torch.load(path, map_location="cpu", weights_only=False)["model"]
    bias = state["roi_heads.box_predictor.cls_score.bias"]
    state["roi_heads.box_predictor.cls_score.bias"] = torch.cat([bias[:-1] + shift, bias[-1:]])
    torch.save({"model": state}, out_path)
    return str(out_path)


KEYPOINT_DEMO = os.path.join(REPO_ROOT, "configs", "demo", "keypoint_rcnn_R18_NL_fast.yaml")
# The Python (LazyConfig) fast demo, and its overrides for 128-pixel images of the 60 validation
# images, every proposal kept at test time.
LAZY_DEMO = os.path.join(REPO_ROOT, "configs", "lazy", "mask_rcnn_R18_NL_fast.py")
SMALL_LAZY = [
    "dataloader.train.dataset.names=nl_demo_shapes_val",
    "dataloader.test.dataset.names=nl_demo_shapes_val",
    "dataloader.train.mapper.augmentations.0.short_edge_length=[128]",
    "dataloader.train.mapper.augmentations.0.max_size=128",
    "dataloader.test.mapper.augmentations.0.short_edge_length=128",
    "dataloader.test.mapper.augmentations.0.max_size=128",
    # every proposal kept at test time, so that the masks are evaluated too
    "model.roi_heads.box_predictor.test_score_thresh=0.0",
]


def brief_keypoint_weights(out):
    """
    A keypoint demo model (NL blocks in the backbone and the keypoint head) trained for 20
    iterations into the folder ``out`` (a seeded keypoint head's heatmaps make detectron2's
    keypoint decoding assert), its classifier made confident (``confident_weights``) so that
    every machine detects something. Returns: the checkpoint's path.
    """
    train_opts = command_line(
        SMALL_TRAINING,
        {"SOLVER.MAX_ITER": 20, "SOLVER.CHECKPOINT_PERIOD": 100, "DATASETS.TEST": "()"},
    )
    code, output = run_tool(
        "train_net.py", "--config-file", KEYPOINT_DEMO, *train_opts, "OUTPUT_DIR", str(out)
    )
    assert code == 0, output[-3000:]
    return confident_weights(
        os.path.join(out, "model_final.pth"), os.path.join(out, "confident.pth")
    )


def check_split_deterministic_and_cached(generate, tmp_path, split, last_image):
    """
    ``generate(root, split)`` (a synthetic dataset's split writer) writes the same JSON and the
    same first and last images into two folders, and a second call leaves an up-to-date copy as
    it is.
    """
    json_a, json_b = generate(str(tmp_path / "a"), split), generate(str(tmp_path / "b"), split)
    with open(json_a) as fa, open(json_b) as fb:
        assert json.load(fa) == json.load(fb)
    names = ["0001.png", f"{last_image:04d}.png"]
    match, _, _ = filecmp.cmpfiles(tmp_path / "a" / split, tmp_path / "b" / split, names, False)
    assert match == names
    mtime = os.stat(json_a).st_mtime_ns
    generate(str(tmp_path / "a"), split)
    assert os.stat(json_a).st_mtime_ns == mtime


def cue_side(image):
    """A relational image's (BGR) cue: ("left" or "right", the end whose columns are all one
    saturated colour; the class of that colour)."""
    for side, columns in (("left", image[:, :CUE_WIDTH]), ("right", image[:, -CUE_WIDTH:])):
        colour = columns.reshape(-1, 3)
        if (colour == colour[0]).all() and colour[0].max() >= 200:
            return side, int(np.argmax([np.abs(colour[0] - c).sum() < 100 for c in CUE_COLORS]))
    raise AssertionError("no cue")


def object_scores(model, image, boxes):
    """The box head's class scores (R, K + 1) for ``boxes`` (R, 4) in ``image`` (H, W, 3 BGR)."""
    inputs = [{"image": torch.as_tensor(image.transpose(2, 0, 1).astype("float32"))}]
    with torch.no_grad():
        features = model.backbone(model.preprocess_image(inputs).tensor)
        heads = model.roi_heads
        pooled = heads.box_pooler([features[f] for f in heads.box_in_features], [Boxes(boxes)])
        logits, _ = heads.box_predictor(heads.box_head(pooled))
    return logits.softmax(-1)


def scores_change(config, dataset, alter, opts=(), block_noise=False):
    """
    Per image of the first 3 of ``dataset``: whether a random model's class scores for the
    objects' boxes change when the image is changed by ``alter`` (BGR image -> BGR image).
    ``block_noise`` makes every NL block pass something on (it is the identity when inserted).
    """
    torch.manual_seed(0)
    model = build_model(load_config(config, [*opts, "MODEL.DEVICE", "cpu"])).eval()
    if block_noise:
        for module in model.modules():
            if isinstance(module, NonLocalBlock2d):
                perturb(module)
    changed = []
    for d in DatasetCatalog.get(dataset)[:3]:
        image = cv2.imread(d["file_name"])
        boxes = torch.tensor(
            [BoxMode.convert(a["bbox"], a["bbox_mode"], BoxMode.XYXY_ABS) for a in d["annotations"]]
        )
        a, b = object_scores(model, image, boxes), object_scores(model, alter(image), boxes)
        changed.append(not torch.equal(a, b))
    return changed


@contextlib.contextmanager
def torch_threads(n):
    """torch's intra-op threads set to ``n`` inside, restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def perturb(module, std=0.5):
    """Add seeded noise to every parameter of ``module`` (a block's zero-initialised W_z or last
    conv too), so that it is no longer the identity. Returns ``module``."""
    torch.manual_seed(1)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(torch.randn_like(p) * std)
    return module


def load_script(path):
    """The module of the script ``path`` (relative to the repository: ``benchmarks/guard.py``,
    ``tools/setup_env.py``), loaded from its file; scripts are not a package."""
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO_ROOT, path))
    module = importlib.util.module_from_spec(spec)
    # as when run: the script's folder first on the path, for its imports of its neighbours
    sys.path.insert(0, os.path.dirname(spec.origin))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.pop(0)
    return module
