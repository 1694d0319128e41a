"""
A self-contained HTML attention viewer: one file per image, opened from disk with no server and
no network. Clicking a point of the image shows that query's attention f(x_i, .)/C(x) for every
NL block of the model: the backbone's over the image, the keypoint head's over the RoI the point
falls in, each with its cell grid, the query's cell, a colour scale and the block's statistics
(``attention_stats.block_statistics``) on this image.

The attention rows are computed with the blocks' analysis interface
(``AttentionBlock.attention``: each block's input embedded once, the queries in bounded chunks)
and stored quantised: uint8 per weight, with each row's maximum as its scale, so a shown weight
is within ``scale / 510`` of the model's. ``query_stride`` keeps one query cell in ``stride`` per
side, which caps the file's size on large images.
"""

import base64
import io
import json
import math
import os

import cv2
import matplotlib
import numpy as np
import torch

from ..analysis.attention_stats import block_statistics

TEMPLATE = os.path.join(os.path.dirname(__file__), "viewer.html")


def quantize_rows(rows):
    """
    Args:
        rows: (K, S) float tensor of non-negative weights.
    Returns:
        (uint8 array (K, S), float32 array (K,)): ``weights ~= q * scale / 255``, per row.
    """
    rows = rows.double().clamp_min(0)
    scale = rows.amax(dim=1)
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))
    q = torch.round(rows / safe[:, None] * 255).to(torch.uint8)
    return q.numpy(), scale.float().numpy()


def dequantize(q, scale):
    """The weights that ``quantize_rows`` stored: (K, S) float array."""
    return q.astype(np.float64) * scale[:, None].astype(np.float64) / 255


def strided_queries(h, w, stride):
    """(K, 2) (row, column) cells kept: every ``stride``-th row and column of an (h, w) grid."""
    rows, cols = np.meshgrid(np.arange(0, h, stride), np.arange(0, w, stride), indexing="ij")
    return np.stack([rows.reshape(-1), cols.reshape(-1)], axis=1)


def _encode(array):
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode("ascii")


def _jpeg_data_url(image_rgb, quality=90):
    ok, jpeg = cv2.imencode(
        ".jpg", np.ascontiguousarray(image_rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return "data:image/jpeg;base64," + base64.b64encode(jpeg.tobytes()).decode("ascii")


def _stored_map(rows, box, statistics):
    q, scale = quantize_rows(rows)
    return {
        "box": box,
        "rows": _encode(q),
        "scales": _encode(scale.astype("<f4")),
        "statistics": statistics,
    }


def _statistics(block, x, output):
    """Each statistic's mean over the maps of ``x`` (RoIs of one head block, or the image)."""
    maps = block_statistics(block, x, output)
    out = {}
    for key in maps[0]:
        values = [m[key] for m in maps if m[key] is not None and not math.isnan(m[key])]
        out[key] = float(np.mean(values)) if values else None
    return out


def viewer_data(predictor, image_bgr, drawn_rgb, capture, *, query_stride=1):
    """
    The viewer's data for one image just predicted with ``capture`` hooked.

    Args:
        predictor: the predictor that ran on the image (its ``aug`` resized it).
        drawn_rgb: (H, W, 3) uint8, the image with the predictions drawn.
        capture (analysis.BlockCapture): holds the blocks' inputs and outputs of that
            prediction, the input's size and the keypoint head's boxes.
        query_stride (int): keep one query cell in ``query_stride`` per side.
    Returns:
        dict, JSON-ready: ``image`` (a JPEG data URL), ``width``, ``height``, ``colormap``
        (256 RGB triples), and ``blocks``: per block, its grids in image pixels, its quantised
        rows (base64) with their scales, and its statistics on this image.
    """
    if query_stride < 1:
        raise ValueError(f"query_stride must be 1 or more, got {query_stride}")
    height, width = image_bgr.shape[:2]
    padded_h, padded_w = capture.input_size
    transform = predictor.aug.get_transform(image_bgr)
    resized_h, resized_w = getattr(transform, "new_h", height), getattr(transform, "new_w", width)
    # image pixels per resized-input pixel
    sy, sx = height / resized_h, width / resized_w
    blocks = []
    for name, block in capture.blocks.items():
        if name not in capture.calls:
            continue
        x, output = capture.calls[name]
        h, w = x.shape[-2:]
        kh, kw = block.key_grid(h, w)
        shared = block.query_independent  # one map for every query: one row stored
        queries = np.zeros((1, 2), np.int64) if shared else strided_queries(h, w, query_stride)
        entry = {
            "name": name,
            "grid": [h, w],
            "key_grid": [kh, kw],
            "stride": 1 if shared else query_stride,
            "label": block.label,
            "query_independent": shared,
        }
        if name.startswith("backbone."):
            cell_h, cell_w = padded_h / h * sy, padded_w / w * sx
            entry.update(
                kind="image",
                cell=[cell_h, cell_w],
                key_cell=[cell_h * (h // kh), cell_w * (w // kw)],
            )
            maps = [(x, output, None)]
        else:
            rois = capture.rois
            if rois is None or len(rois) != x.shape[0]:
                continue  # not the keypoint head's RoIs
            entry.update(kind="roi")
            boxes = (rois.cpu() * torch.tensor([sx, sy, sx, sy])).tolist()
            maps = [(x[i : i + 1], output[i : i + 1], boxes[i]) for i in range(x.shape[0])]
        entry["maps"], terms = [], {}
        for x_i, out_i, box in maps:
            statistics = _statistics(block, x_i, out_i)
            rows = block.attention(x_i).rows(queries)[0]
            entry["maps"].append(_stored_map(rows, box, statistics))
            for term, label, weights in block.query_independent_terms(x_i):
                terms.setdefault((term, label), []).append(_stored_map(weights, box, statistics))
        blocks.append(entry)
        for (term, label), term_maps in terms.items():  # beside the block's query maps
            label = f"{label} (statistics: the block's)"
            blocks.append(
                {**entry, "name": f"{name}:{term}", "label": label, "query_independent": True}
            )
            blocks[-1]["maps"] = term_maps
    colormap = (matplotlib.colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).round()
    return {
        "image": _jpeg_data_url(drawn_rgb),
        "width": width,
        "height": height,
        "colormap": colormap.astype(int).tolist(),
        "blocks": blocks,
    }


def viewer_html(data, title):
    """The HTML file's text: the template with ``data`` and ``title`` put in."""
    with open(TEMPLATE) as f:
        template = f.read()
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    return template.replace("__TITLE__", _escape(title)).replace("__DATA__", payload)


def _escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_viewer(path, data, title):
    """Write the viewer's HTML to ``path``; returns its size in bytes."""
    text = viewer_html(data, title)
    with io.open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return os.path.getsize(path)
