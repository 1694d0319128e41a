"""Build a predictor of a trained model (YAML or Python config), and the inputs it takes."""

import glob
import os

import numpy as np
import torch

from detectron2.config import instantiate
from detectron2.engine import DefaultPredictor

from ..checkpoint import SafeCheckpointer
from ..config import is_lazy

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


def expand_inputs(inputs):
    """
    Image paths from files, folders (their images, sorted) and glob patterns, in order.

    Raises:
        FileNotFoundError: naming an input that matches nothing.
    """
    paths = []
    for item in inputs:
        if os.path.isdir(item):
            found = sorted(
                os.path.join(item, f)
                for f in os.listdir(item)
                if f.lower().endswith(IMAGE_EXTENSIONS)
            )
        elif os.path.isfile(item):
            found = [item]
        else:
            found = sorted(glob.glob(os.path.expanduser(item)))
        if not found:
            raise FileNotFoundError(f"input {item!r} is no image file, folder of images or glob")
        paths.extend(found)
    return paths


def set_confidence_threshold(cfg, threshold):
    """Score threshold of every detector head, as detectron2's demo does (YAML or Python
    config)."""
    if is_lazy(cfg):
        if "roi_heads" in cfg.model:
            cfg.model.roi_heads.box_predictor.test_score_thresh = threshold
        if "test_score_thresh" in cfg.model:  # RetinaNet
            cfg.model.test_score_thresh = threshold
        return
    cfg.MODEL.RETINANET.SCORE_THRESH_TEST = threshold
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = threshold
    cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH = threshold


def build_predictor(cfg, *, allow_unsafe_checkpoint=False):
    """
    detectron2's ``DefaultPredictor`` (for a Python config, ``LazyPredictor``), its weights
    (``MODEL.WEIGHTS``; ``train.init_checkpoint``) loaded safely.
    """
    if is_lazy(cfg):
        predictor, weights = LazyPredictor(cfg), cfg.train.init_checkpoint
    else:
        no_weights = cfg.clone()
        no_weights.defrost()
        no_weights.MODEL.WEIGHTS = ""
        predictor, weights = DefaultPredictor(no_weights), cfg.MODEL.WEIGHTS
    SafeCheckpointer(predictor.model, allow_unsafe=allow_unsafe_checkpoint).load(weights)
    return predictor


class LazyPredictor:
    """
    What detectron2's ``DefaultPredictor`` is for a YAML config, for a Python config: the model
    of ``cfg.model`` on ``cfg.train.device``, resized by the test loader's augmentation, no
    weights loaded. (Not a subclass: main's ``DefaultPredictor.__call__`` reads
    ``cfg.MODEL.DEVICE``.)
    """

    def __init__(self, cfg):
        self.cfg = cfg
        self.model = instantiate(cfg.model).to(cfg.train.device).eval()
        augmentations = instantiate(cfg.dataloader.test.mapper.augmentations)
        if len(augmentations) != 1:
            raise ValueError(
                f"dataloader.test.mapper.augmentations has {len(augmentations)} augmentations; "
                "prediction takes one resize (detectron2's recipes have ResizeShortestEdge)"
            )
        self.aug = augmentations[0]
        self.input_format = cfg.model.input_format

    def __call__(self, original_image):
        """
        Args:
            original_image: (H, W, 3) uint8, BGR.
        Returns:
            dict: the model's output for the image, at its size.
        """
        with torch.no_grad():
            height, width = original_image.shape[:2]
            image = model_input(self, original_image).to(self.cfg.train.device)
            return self.model([{"image": image, "height": height, "width": width}])[0]


def model_input(predictor, original_image):
    """
    The image as ``predictor``'s model takes it, as ``DefaultPredictor`` makes it.

    Args:
        predictor: a ``DefaultPredictor`` or ``LazyPredictor``.
        original_image: (H, W, 3) uint8, BGR.
    Returns:
        (3, H', W') float32: channels in the model's order, resized by ``predictor.aug``.
    """
    if predictor.input_format == "RGB":
        original_image = original_image[:, :, ::-1]
    image = predictor.aug.get_transform(original_image).apply_image(original_image)
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)).astype("float32"))


def test_dataset_name(cfg):
    """The first test dataset of a YAML or Python config, or None."""
    if is_lazy(cfg):
        names = cfg.dataloader.test.dataset.names
        return names if isinstance(names, str) else (names[0] if len(names) else None)
    return cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else None
