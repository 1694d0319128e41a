"""Run a trained model on image files and draw its predictions with detectron2's Visualizer."""
import glob
import logging
import os

import cv2

from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.engine import DefaultPredictor
from detectron2.utils.visualizer import ColorMode, Visualizer

from .checkpoint import SafeCheckpointer

logger = logging.getLogger(__name__)

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
    """Score threshold of every detector head, as detectron2's demo does."""
    cfg.MODEL.RETINANET.SCORE_THRESH_TEST = threshold
    cfg.MODEL.ROI_HEADS.SCORE_THRESH_TEST = threshold
    cfg.MODEL.PANOPTIC_FPN.COMBINE.INSTANCES_CONFIDENCE_THRESH = threshold


class PredictionVisualizer:
    """
    ``DefaultPredictor`` plus detectron2's ``Visualizer``, with the class names of the first test
    dataset of ``cfg``. Weights (``cfg.MODEL.WEIGHTS``) are loaded by ``SafeCheckpointer``.
    """

    def __init__(self, cfg, *, allow_unsafe_checkpoint=False):
        no_weights = cfg.clone()
        no_weights.defrost()
        no_weights.MODEL.WEIGHTS = ""
        self.predictor = DefaultPredictor(no_weights)
        SafeCheckpointer(self.predictor.model, allow_unsafe=allow_unsafe_checkpoint).load(
            cfg.MODEL.WEIGHTS
        )
        name = cfg.DATASETS.TEST[0] if len(cfg.DATASETS.TEST) else "__unused"
        self.metadata = MetadataCatalog.get(name)
        self.input_format = cfg.INPUT.FORMAT

    def __call__(self, path):
        """
        Returns:
            (predictions dict of the model, drawn RGB image (H, W, 3) uint8).
        Raises:
            OSError / ValueError: the file is unreadable or not an image.
        """
        image = read_image(path, format="BGR")
        predictions = self.predictor(image)
        visualizer = Visualizer(image[:, :, ::-1], self.metadata, instance_mode=ColorMode.IMAGE)
        drawn = visualizer.draw_instance_predictions(predictions["instances"].to("cpu"))
        return predictions, drawn.get_image()


def draw_predictions(cfg, paths, output_dir, progress=None, allow_unsafe_checkpoint=False):
    """
    Draw the predictions for each image in ``paths`` to ``output_dir/<name>`` (same file name).
    An unreadable file is reported by path and skipped.

    Args:
        progress: optional wrapper of the iterable of paths (e.g. ``tqdm.tqdm``).
        allow_unsafe_checkpoint: load the weights with plain pickle (trusted files only).
    Returns:
        (list of written paths, list of skipped input paths)
    """
    visualize = PredictionVisualizer(cfg, allow_unsafe_checkpoint=allow_unsafe_checkpoint)
    os.makedirs(output_dir, exist_ok=True)
    written, skipped = [], []
    for path in progress(paths) if progress else paths:
        try:
            _, drawn = visualize(path)
        except (OSError, ValueError) as e:
            logger.warning(f"Skipped {path}: not a readable image ({e})")
            skipped.append(path)
            continue
        out_path = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0] + ".png")
        cv2.imwrite(out_path, drawn[:, :, ::-1])
        written.append(out_path)
    return written, skipped
