"""
Where an NL block looks: for query pixels of an image, the block's normalised pairwise weights
f(x_i, .) / C(x) over the image, as heat maps in the spirit of the paper's Figure 3. Computed
with ``AttentionBlock.attention_map`` (the query rows only, never the full matrix).
"""

import logging

import cv2
import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from fvcore.transforms.transform import NoOpTransform

from ..analysis.capture import BlockCapture

logger = logging.getLogger(__name__)


class NoDetectionError(ValueError):
    """Queries were to come from the detections, and there is none."""


class AttentionMapper:
    """
    Runs a predictor once per image, capturing the chosen block's input, and turns query pixels
    into heat maps over the image.
    """

    def __init__(self, predictor, block_name=None):
        """
        Args:
            block_name (str or None): the backbone block to map; None for its first.
        """
        names = None if block_name is None else [block_name]
        self.capture = BlockCapture(predictor.model, prefix="backbone.", names=names)
        self.predictor = predictor
        self.block_name = block_name or next(iter(self.capture.blocks))
        self.block = self.capture.blocks[self.block_name]

    def __call__(self, image_bgr, queries=None, top_k=3):
        """
        Args:
            image_bgr: (H, W, 3) uint8.
            queries: (K, 2) (x, y) pixel positions in the image; None for the box centres of the
                ``top_k`` highest-scoring detections.
        Returns:
            queries (K, 2) array, heat maps (K, H, W) float array (each sums to about 1 over the
            block's grid), and the predictions. ``self.grid_lines`` then holds the boundaries of
            the block's j cells in image pixels: (rows, columns).
        """
        predictions = self.predictor(image_bgr)
        if queries is None:
            instances = predictions["instances"].to("cpu")
            boxes = instances.pred_boxes.tensor[instances.scores.argsort(descending=True)][:top_k]
            queries = ((boxes[:, :2] + boxes[:, 2:]) / 2).numpy()
            if len(queries) == 0:
                raise NoDetectionError(
                    "the model detected nothing in this image to take query points from; give "
                    "them with --query X Y (repeatable), or lower the score threshold "
                    "(MODEL.ROI_HEADS.SCORE_THRESH_TEST)"
                )
            if len(queries) < top_k:
                logger.info(
                    f"{len(queries)} detections, fewer than --top-k {top_k}: {len(queries)} queries"
                )
        queries = np.asarray(queries, dtype=np.float64).reshape(-1, 2)
        height, width = image_bgr.shape[:2]
        if ((queries < 0) | (queries >= [width, height])).any():
            raise ValueError(f"query points {queries.tolist()} outside the {width}x{height} image")
        x = self.capture.calls[self.block_name][0]
        padded_h, padded_w = self.capture.input_size
        resized_h, resized_w = self._resized_size(height, width)
        # image pixel -> resized input pixel -> cell of the block's input grid
        stride_y, stride_x = padded_h / x.shape[-2], padded_w / x.shape[-1]
        rows = np.minimum(queries[:, 1] * resized_h / height // stride_y, x.shape[-2] - 1)
        cols = np.minimum(queries[:, 0] * resized_w / width // stride_x, x.shape[-1] - 1)
        cells = torch.as_tensor(np.stack([rows, cols], axis=1).astype(np.int64))
        maps = self.block.attention_map(x, cells)[0].float()  # (K, h', w')
        heat = _grid_to_image(
            maps, (stride_y, stride_x), x.shape[-2:], (resized_h, resized_w), (height, width)
        )
        cell_h, cell_w = _cell_size(maps.shape[-2:], (stride_y, stride_x), x.shape[-2:])
        self.grid_lines = tuple(
            np.arange(1, n) * cell * size / resized
            for n, cell, size, resized in (
                (maps.shape[-2], cell_h, height, resized_h),
                (maps.shape[-1], cell_w, width, resized_w),
            )
        )
        return queries, heat, predictions

    def _resized_size(self, height, width):
        transform = self.predictor.aug.get_transform(np.zeros((height, width, 3), np.uint8))
        if isinstance(transform, NoOpTransform):  # INPUT.MIN_SIZE_TEST 0: the image as it is
            return height, width
        return transform.new_h, transform.new_w


def _grid_to_image(maps, stride, input_grid, resized, image_size):
    """
    (K, h', w') maps on the block's j grid -> (K, H, W) on the image: a j cell covers
    stride * (h // h') input pixels (2x2 subsampling floors odd sizes, leaving the last row or
    column of the input without a cell of its own, which takes its neighbour's value); the input
    is the resized image, padded at the bottom and right.
    """
    grid_h, grid_w = maps.shape[-2:]
    cell_h, cell_w = _cell_size((grid_h, grid_w), stride, input_grid)
    maps = F.interpolate(maps[None], size=(grid_h * cell_h, grid_w * cell_w), mode="nearest")
    maps = maps[0].cpu().numpy()
    pad_h, pad_w = max(0, resized[0] - maps.shape[1]), max(0, resized[1] - maps.shape[2])
    maps = np.pad(maps, ((0, 0), (0, pad_h), (0, pad_w)), mode="edge")[
        :, : resized[0], : resized[1]
    ]
    height, width = image_size
    # Nearest: each cell keeps one colour, so the block's grid stays visible.
    return np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_NEAREST) for m in maps])


def _cell_size(grid, stride, input_grid):
    """Size of one j cell in pixels of the resized input: (height, width)."""
    return tuple(round(s * (n // g)) for s, n, g in zip(stride, input_grid, grid))


def draw_attention(image_bgr, heat, query, *, grid_lines=None, min_size=512, alpha=0.55):
    """
    The image with ``heat`` (H, W) as a colour map over it and the query point marked, upscaled
    (nearest) so that its short side is at least ``min_size``, the j cells outlined, and a colour
    bar of the weights on the right.

    Args:
        grid_lines: (rows, columns) of cell boundaries in image pixels, or None.
    Returns:
        (H', W' + bar, 3) uint8 BGR.
    """
    height, width = image_bgr.shape[:2]
    scale = max(1, int(np.ceil(min_size / min(height, width))))
    size = (width * scale, height * scale)
    image = cv2.resize(image_bgr, size, interpolation=cv2.INTER_NEAREST)
    heat = cv2.resize(heat.astype(np.float32), size, interpolation=cv2.INTER_NEAREST)
    top = max(float(heat.max()), 1e-12)
    colours = matplotlib.colormaps["jet"](heat / top)[..., :3]
    overlay = (1 - alpha) * image[..., ::-1] / 255.0 + alpha * colours
    out = np.ascontiguousarray((overlay[..., ::-1] * 255).clip(0, 255).astype(np.uint8))
    if grid_lines is not None:
        rows, columns = grid_lines
        for y in np.round(np.asarray(rows) * scale).astype(int):
            cv2.line(out, (0, y), (size[0] - 1, y), (255, 255, 255), 1)
        for x in np.round(np.asarray(columns) * scale).astype(int):
            cv2.line(out, (x, 0), (x, size[1] - 1), (255, 255, 255), 1)
    center = (int(round(query[0] * scale)), int(round(query[1] * scale)))
    radius = max(4, min(size) // 60)
    cv2.circle(out, center, radius + 2, (255, 255, 255), -1)
    cv2.circle(out, center, radius, (0, 0, 255), -1)
    return np.hstack([out, _colour_bar(size[1], top)])


def _colour_bar(height, top, width=90):
    """A vertical jet scale from 0 (bottom) to ``top`` with both values written: (height, width,
    3) uint8 BGR."""
    bar = np.full((height, width, 3), 255, np.uint8)
    levels = np.linspace(1, 0, height - 20)[:, None]
    strip = matplotlib.colormaps["jet"](np.repeat(levels, 20, axis=1))[..., :3][..., ::-1]
    bar[10:-10, 8:28] = (strip * 255).astype(np.uint8)
    font = cv2.FONT_HERSHEY_SIMPLEX
    cv2.putText(bar, f"{top:.3f}", (32, 22), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(bar, "0", (32, height - 12), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    cv2.putText(bar, "weight", (32, height // 2), font, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def attention_panel(pictures, gap=8):
    """Pictures of ``draw_attention`` (one per query) side by side, one panel."""
    height = max(p.shape[0] for p in pictures)
    spacer = np.full((height, gap, 3), 255, np.uint8)
    padded = [
        np.pad(p, ((0, height - p.shape[0]), (0, 0), (0, 0)), constant_values=255) for p in pictures
    ]
    return np.hstack([part for p in padded for part in (p, spacer)][:-1])


def plot_block_statistics(name, maps, path):
    """
    One PNG: for each of the block's statistics, its values over the maps (a histogram).

    Args:
        maps (list[dict]): per map, as ``attention_stats.block_statistics`` gives.
    """
    import matplotlib.pyplot as plt

    from ..analysis.attention_stats import STATISTICS

    keys = [k for k in STATISTICS if any(m[k] is not None for m in maps)]
    figure, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.6), squeeze=False)
    for axis, key in zip(axes[0], keys):
        values = [m[key] for m in maps if m[key] is not None and m[key] == m[key]]
        axis.hist(values, bins=20, range=(0, 1), color="tab:blue")
        axis.set_title(key.replace("_", " "), fontsize=9)
        axis.set_xlim(0, 1)
    figure.suptitle(f"{name}: {len(maps)} maps", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
