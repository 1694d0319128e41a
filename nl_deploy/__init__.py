"""
Run a model exported by ``tools/export_model.py`` (``model.ts`` with torch only, ``model.onnx``
with onnxruntime) on images, without nl_detectron: its model code is in the exported file. This
package imports detectron2's data transforms and structures only, for resizing and
post-processing as detectron2 does.

    model = ExportedModel("exported/model.onnx")
    instances = model(image_bgr)  # detectron2 Instances at the image's size
"""

import json
import os

import numpy as np
import torch

from detectron2.data.transforms import ResizeShortestEdge
from detectron2.modeling.postprocessing import detector_postprocess
from detectron2.structures import Boxes, Instances

__all__ = ["ExportedModel"]


class ExportedModel:
    """
    An exported model and its ``model.json`` (same folder): resizes an image as the test
    loader did, runs the model, and post-processes its outputs as detectron2 does (boxes and
    keypoints scaled to the image, masks pasted into it).
    """

    def __init__(self, path):
        self.path = path
        with open(os.path.join(os.path.dirname(os.path.abspath(path)), "model.json")) as f:
            self.meta = json.load(f)
        resize = self.meta["resize"]
        self.resize = ResizeShortestEdge(resize["short_edge_length"][0], resize["max_size"])
        if path.endswith(".ts"):
            module = torch.jit.load(path, map_location="cpu")

            def run(image):
                with torch.no_grad():
                    return [t.numpy() for t in module(torch.from_numpy(image))]

            self._run = run
        elif path.endswith(".onnx"):
            import onnxruntime

            session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
            self._run = lambda image: session.run(None, {"image": image})
        else:
            raise ValueError(f"{path}: not an exported model (.ts or .onnx)")

    @property
    def class_names(self):
        return self.meta["class_names"]

    def __call__(self, image_bgr):
        """
        Args:
            image_bgr: (H, W, 3) uint8, BGR (as cv2 and detectron2's read_image give).
        Returns:
            detectron2 ``Instances`` of size (H, W): pred_boxes, scores, pred_classes, and
            pred_masks (H, W) bool / pred_keypoints (K, 3) where the model has them.
        """
        image = image_bgr[:, :, ::-1] if self.meta["input"]["format"] == "RGB" else image_bgr
        height, width = image.shape[:2]
        resized = self.resize.get_transform(image).apply_image(image)
        tensor = np.ascontiguousarray(resized.transpose(2, 0, 1)).astype(np.float32)
        outputs = dict(zip(self.meta["outputs"], self._run(tensor)))
        size = tuple(int(v) for v in outputs.pop("image_size"))
        fields = {k: torch.as_tensor(np.asarray(v)) for k, v in outputs.items()}
        fields["pred_boxes"] = Boxes(fields["pred_boxes"])
        return detector_postprocess(Instances(size, **fields), height, width)
