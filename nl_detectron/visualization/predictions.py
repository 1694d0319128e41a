"""Draw a model's predictions on images and videos with detectron2's Visualizer."""

import json
import logging
import os

import cv2
import numpy as np

from detectron2.data import MetadataCatalog
from detectron2.data.catalog import Metadata
from detectron2.data.detection_utils import read_image
from detectron2.evaluation.coco_evaluation import instances_to_coco_json
from detectron2.utils.visualizer import ColorMode, Visualizer

from nl_deploy import ExportedModel

from ..engine.predictor import build_predictor, test_dataset_name

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv")


class PredictionVisualizer:
    """
    ``build_predictor`` plus detectron2's ``Visualizer``, with the class names of the first test
    dataset of ``cfg`` (YAML or Python config).
    """

    def __init__(self, cfg, *, allow_unsafe_checkpoint=False):
        self.predictor = build_predictor(cfg, allow_unsafe_checkpoint=allow_unsafe_checkpoint)
        self.metadata = MetadataCatalog.get(test_dataset_name(cfg) or "__unused")

    def __call__(self, path):
        """
        Returns:
            (predictions dict of the model, drawn RGB image (H, W, 3) uint8).
        Raises:
            OSError / ValueError: the file is unreadable or not an image.
        """
        return self.draw(read_image(path, format="BGR"))

    def predict(self, image_bgr):
        """The model's predictions dict on one (H, W, 3) BGR uint8 image."""
        return self.predictor(image_bgr)

    def draw(self, image_bgr):
        """Predict on one (H, W, 3) BGR uint8 image; returns as ``__call__``."""
        predictions = self.predict(image_bgr)
        visualizer = Visualizer(image_bgr[:, :, ::-1], self.metadata, instance_mode=ColorMode.IMAGE)
        drawn = visualizer.draw_instance_predictions(predictions["instances"].to("cpu"))
        return predictions, drawn.get_image()

    def draw_video(self, path, out_path):
        """
        Draw the predictions on every frame of the video ``path`` into the mp4 ``out_path``.

        Returns:
            int: the number of frames.
        Raises:
            OSError: the file cannot be read as a video.
        """
        capture = cv2.VideoCapture(path)
        ok, frame = capture.read()
        if not ok:
            raise OSError(f"{path}: cannot read this video")
        fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
        height, width = frame.shape[:2]
        writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
        frames = 0
        while ok:
            writer.write(np.ascontiguousarray(self.draw(frame)[1][:, :, ::-1]))
            frames += 1
            ok, frame = capture.read()
        writer.release()
        capture.release()
        return frames


class ExportedVisualizer(PredictionVisualizer):
    """``PredictionVisualizer`` of a model exported by ``tools/export_model.py``, run by
    ``nl_deploy.ExportedModel``; class and keypoint names come from its ``model.json``."""

    def __init__(self, path, *, confidence_threshold=0.0):
        self.model = ExportedModel(path)
        self.confidence_threshold = confidence_threshold
        meta = self.model.meta
        self.metadata = Metadata(
            name=f"exported:{path}",
            thing_classes=meta["class_names"],
            keypoint_names=meta["keypoint_names"],
            keypoint_flip_map=[tuple(pair) for pair in meta["keypoint_flip_map"]],
            keypoint_connection_rules=[tuple(rule) for rule in meta["keypoint_connection_rules"]],
        )

    def predict(self, image_bgr):
        instances = self.model(image_bgr)
        return {"instances": instances[instances.scores >= self.confidence_threshold]}


def draw_predictions(visualize, paths, output_dir, progress=None, json_output=None):
    """
    Draw the predictions for each image in ``paths`` to ``output_dir/<name>.png``. An unreadable
    file is reported by path and skipped.

    Args:
        visualize (PredictionVisualizer): the model and its metadata (``ExportedVisualizer``
            for an exported model).
        progress: optional wrapper of the iterable of paths (e.g. ``tqdm.tqdm``).
        json_output: also write the predictions there as COCO results JSON; ``image_id`` is the
            input's 1-based position, ``file_name`` its path, and ``category_id`` the dataset's
            id where the metadata maps it. Videos (``VIDEO_EXTENSIONS``) are drawn to
            ``<name>.mp4``, frame by frame, and left out of the JSON.
    Returns:
        (list of written paths, list of skipped input paths)
    """
    os.makedirs(output_dir, exist_ok=True)
    written, skipped, results = [], [], []
    to_dataset_id = {
        v: k
        for k, v in getattr(visualize.metadata, "thing_dataset_id_to_contiguous_id", {}).items()
    }
    for image_id, path in enumerate(progress(paths) if progress else paths, start=1):
        stem = os.path.join(output_dir, os.path.splitext(os.path.basename(path))[0])
        if path.lower().endswith(VIDEO_EXTENSIONS):
            try:
                frames = visualize.draw_video(path, stem + ".mp4")
            except OSError as e:
                logger.warning(f"Skipped {path}: {e}")
                skipped.append(path)
                continue
            logger.info(f"Drew {frames} frames of {path}")
            written.append(stem + ".mp4")
            continue
        try:
            predictions, drawn = visualize(path)
        except (OSError, ValueError) as e:
            logger.warning(f"Skipped {path}: not a readable image ({e})")
            skipped.append(path)
            continue
        out_path = stem + ".png"
        cv2.imwrite(out_path, drawn[:, :, ::-1])
        written.append(out_path)
        if json_output:
            for r in instances_to_coco_json(predictions["instances"].to("cpu"), image_id):
                r["category_id"] = to_dataset_id.get(r["category_id"], r["category_id"])
                results.append(dict(r, file_name=path))
    if json_output:
        with open(json_output, "w") as f:
            json.dump(results, f)
    return written, skipped
