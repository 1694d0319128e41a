"""
Export a model to TorchScript or ONNX by tracing (detectron2's ``TracingAdapter``), with a JSON
of what a runtime needs (``nl_deploy``, a package beside nl_detectron, runs both without its
model code).

The exported function takes one image, (3, H, W) float32 in the model's input format and
resized as the test loader resizes, and returns the fields of detectron2's ``Instances`` before
post-processing (boxes in the resized image, masks as 28x28 ROI masks), then the image size.
"""

import json
import os
import re

import numpy as np
import torch

from detectron2.data import MetadataCatalog
from detectron2.data.detection_utils import read_image
from detectron2.export import TracingAdapter
from detectron2.modeling.meta_arch import GeneralizedRCNN, RetinaNet

from .engine.predictor import build_predictor, model_input, test_dataset_name

FORMATS = ("torchscript", "onnx")
METHODS = ("tracing",)
SUFFIXES = {"torchscript": ".ts", "onnx": ".onnx"}
ONNX_OPSET = 17


class ExportError(RuntimeError):
    """A model that cannot be exported in the format asked, with what blocks it."""


def _rcnn_inference(model, inputs):
    # do_postprocess=False: boxes in the resized image, ROI masks; the runtime post-processes.
    return [{"instances": model.inference(inputs, do_postprocess=False)[0]}]


def check_exportable(model, fmt):
    """
    Refuse, naming why, a model whose trace would not compute what it computes.

    Raises:
        ExportError
    """
    if isinstance(model, RetinaNet):
        raise ExportError(
            "RetinaNet cannot be exported by tracing: detectron2's "
            "DenseDetector._decode_per_level_predictions keeps min(test_topk_candidates, "
            "number of scores above the threshold) candidates per level, a count that depends "
            "on the image and that tracing records as the sample image's constant"
        )
    if not isinstance(model, GeneralizedRCNN):
        raise ExportError(f"{type(model).__name__}: only R-CNN models export here")
    if fmt not in FORMATS:
        raise ExportError(f"--format {fmt!r} is not one of {', '.join(FORMATS)}")


def sample_tensor(predictor, image_path):
    """The exported function's input for the image file: (3, H, W) float32, resized."""
    return model_input(predictor, read_image(image_path, format="BGR"))


def output_names(adapter):
    """Names of the flat outputs: the Instances fields in the order the adapter flattens them,
    then "image_size"."""
    instances = adapter.outputs_schema.schemas[0].schemas[0]
    return [*instances.keys, "image_size"]


def export_model(cfg, fmt, sample_image, output_dir, *, allow_unsafe_checkpoint=False):
    """
    Trace the model of ``cfg`` (YAML or Python config; weights from ``MODEL.WEIGHTS`` /
    ``train.init_checkpoint``) on ``sample_image`` and write it to ``output_dir`` as
    ``model.ts`` (TorchScript) or ``model.onnx`` (ONNX opset 17), beside ``model.json``.

    Returns:
        (path of the model file, path of the JSON)
    Raises:
        ExportError: the model cannot be exported in that format, saying what blocks it.
    """
    predictor = build_predictor(cfg, allow_unsafe_checkpoint=allow_unsafe_checkpoint)
    model = predictor.model.eval()
    check_exportable(model, fmt)
    image = sample_tensor(predictor, sample_image)
    # The adapter is a new module, in training mode; ONNX export restores the mode it finds.
    adapter = TracingAdapter(model, [{"image": image}], _rcnn_inference).eval()
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, "model" + SUFFIXES[fmt])
    with torch.no_grad():
        adapter(image)  # fills the outputs schema
        names = output_names(adapter)
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(adapter, (image,)), path)
        else:
            _export_onnx(adapter, image, names, path)
    meta_path = os.path.join(output_dir, "model.json")
    with open(meta_path, "w") as f:
        json.dump(runtime_metadata(cfg, predictor, fmt, path, names), f, indent=1)
    return path, meta_path


def _export_onnx(adapter, image, names, path):
    try:
        import onnx  # noqa: F401 (torch's exporter needs it)
    except ImportError:
        raise ExportError("ONNX export needs the onnx package: pip install -e .[export]") from None
    dynamic = {"image": {1: "height", 2: "width"}}
    dynamic.update({name: {0: "detections"} for name in names if name != "image_size"})
    try:
        torch.onnx.export(
            adapter,
            (image,),
            path,
            opset_version=ONNX_OPSET,
            dynamo=False,
            input_names=["image"],
            output_names=names,
            dynamic_axes=dynamic,
        )
    except Exception as e:  # torch's exporter raises several types; name the operator
        operator = re.search(r"(aten::\w+|prim::\w+|onnx::\w+)", str(e))
        blocker = f"operator {operator.group(1)}" if operator else type(e).__name__
        first_line = next((line for line in str(e).splitlines() if line.strip()), "")
        raise ExportError(
            f"ONNX export (opset {ONNX_OPSET}) is blocked by {blocker}: {first_line}"
        ) from e


def runtime_metadata(cfg, predictor, fmt, path, names):
    """What ``nl_deploy`` needs besides the model file (JSON-ready)."""
    metadata = MetadataCatalog.get(test_dataset_name(cfg) or "__unused")
    resize = predictor.aug
    model = predictor.model
    return {
        "format": fmt,
        "file": os.path.basename(path),
        "input": {
            "name": "image",
            "format": predictor.input_format,
            "layout": "(3, H, W) float32, 0-255; the model subtracts the mean, divides by the "
            "std and pads to its size divisibility itself",
            "pixel_mean": model.pixel_mean.flatten().tolist(),
            "pixel_std": model.pixel_std.flatten().tolist(),
        },
        "resize": {
            "short_edge_length": list(np.atleast_1d(resize.short_edge_length).tolist()),
            "max_size": int(resize.max_size),
            "rule": "shortest edge to short_edge_length (the first), longest at most max_size, "
            "as detectron2's ResizeShortestEdge",
        },
        "outputs": names,
        "class_names": list(metadata.get("thing_classes", [])),
        "keypoint_names": list(metadata.get("keypoint_names", [])),
        "keypoint_flip_map": [list(pair) for pair in metadata.get("keypoint_flip_map", [])],
        "keypoint_connection_rules": [
            list(rule) for rule in metadata.get("keypoint_connection_rules", [])
        ],
        # Traced in: a runtime can raise it, not lower it.
        "score_threshold": float(model.roi_heads.box_predictor.test_score_thresh),
    }
