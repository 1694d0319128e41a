"""
What an NL block learned, in the statistics of GCNet (Cao et al., "GCNet: Non-local Networks Meet
Squeeze-Excitation Networks and Beyond", 2019, Sec. 3.2): is its attention the same map for every
query? For each block and each input map:

- the mean cosine distance between the attention rows f(x_i, .) / C(x) of different queries i
  (0: one map for every query; 1: orthogonal maps);
- the same distance between the block's input features x_i, and between its outputs, the term
  the block adds to x (norm(W_z y)_i);
- the attention entropy divided by log S (1: uniform over the S key positions);
- the weight a query puts on the key cells next to its own (its 3x3 neighbourhood on the key grid)
  against the rest of the map, beside what uniform weights would put there.

The mean pairwise cosine distance of L vectors comes from their unit vectors u_i with no L x L
matrix: sum_{i != j} u_i . u_j = |sum_i u_i|^2 - L. The attention rows are computed in bounded
query chunks, as the block's own kernels are, so a COCO-size res4 map fits in a few hundred MiB.
"""

import math

import torch

from .capture import BlockCapture

STATISTICS = (
    "attention_distance",
    "input_distance",
    "output_distance",
    "entropy",
    "neighbourhood_weight",
    "neighbourhood_uniform",
)


def mean_pairwise_cosine_distance(vectors):
    """
    Args:
        vectors: (L, D); rows of norm 0 are left out.
    Returns:
        float: 1 - the mean cosine similarity over ordered pairs i != j (nan for fewer than 2
        rows of non-zero norm).
    """
    unit_sum = _UnitSum()
    unit_sum.add(vectors)
    return unit_sum.distance()


class _UnitSum:
    """Running sum of unit rows and their count, for the distance of rows seen chunk by chunk."""

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, rows):
        rows = rows.double()
        norms = rows.norm(dim=1)
        units = rows[norms > 0] / norms[norms > 0, None]
        self.total = self.total + units.sum(0)
        self.count += units.shape[0]

    def distance(self):
        if self.count < 2:
            return math.nan
        total = self.total
        similarity = (total.dot(total) - self.count) / (self.count * (self.count - 1))
        # Rounding can put maps that are all alike a hair below 0.
        return min(max(1.0 - similarity.item(), 0.0), 2.0)


class _Neighbourhood:
    """For query positions of an (h, w) map: the key cells within 1 cell of the query's own cell
    on the key grid (its 3x3 neighbourhood there), a chunk of queries at a time."""

    def __init__(self, h, w, grid, device):
        gh, gw = grid
        rows = torch.arange(h, device=device) * gh // h
        cols = torch.arange(w, device=device) * gw // w
        self.query_cells = (rows[:, None].expand(h, w).reshape(-1), cols.repeat(h))
        self.key_cells = (
            torch.arange(gh, device=device).repeat_interleave(gw),
            torch.arange(gw, device=device).repeat(gh),
        )

    def mask(self, start, stop):
        """(stop - start, S) bool."""
        (qr, qc), (kr, kc) = self.query_cells, self.key_cells
        qr, qc = qr[start:stop, None], qc[start:stop, None]
        return ((qr - kr[None]).abs() <= 1) & ((qc - kc[None]).abs() <= 1)


@torch.no_grad()
def block_statistics(block, x, output=None):
    """
    The statistics of one block on each map of a batch.

    Args:
        block: an ``AttentionBlock`` (a block of the family).
        x: (N, C, H, W) its input.
        output: (N, C, H, W) its output (``block(x)`` when None).
    Returns:
        list[dict]: per map, each of ``STATISTICS`` (None where a mode has no such number:
        entropy for the 1/N modes, the neighbourhood for dot product, whose weights have no
        sign).
    """
    if output is None:
        output = block(x)
    added = (output - x).flatten(2).transpose(1, 2)  # (N, L, C)
    features = x.flatten(2).transpose(1, 2)
    n, _, h, w = x.shape
    near = _Neighbourhood(h, w, block.key_grid(h, w), x.device)
    results = []
    for i in range(n):
        attention = block.attention(x[i : i + 1])
        num_keys = attention.num_keys
        rows = _UnitSum()
        entropy = near_weight = total_weight = near_share = 0.0
        for start, weights in attention.chunks():
            weights = weights[0].double()  # (chunk, S)
            rows.add(weights)
            if block.softmax_weights:
                entropy += -(weights * weights.clamp_min(1e-300).log()).sum().item()
            mask = near.mask(start, start + weights.shape[0])
            near_weight += (weights * mask).sum().item()
            near_share += mask.double().mean(1).sum().item()
            total_weight += weights.sum().item()
        softmax, signed = block.softmax_weights, block.signed
        results.append(
            dict(
                attention_distance=rows.distance(),
                input_distance=mean_pairwise_cosine_distance(features[i]),
                output_distance=mean_pairwise_cosine_distance(added[i]),
                entropy=min(entropy / (h * w) / math.log(num_keys), 1.0)
                if softmax and num_keys > 1
                else None,
                neighbourhood_weight=None
                if signed or not total_weight
                else near_weight / total_weight,
                neighbourhood_uniform=None if signed else near_share / (h * w),
            )
        )
    return results


class AttentionStatistics:
    """
    Hooks on every NL block of a model (backbone and keypoint head), accumulating
    ``block_statistics`` per block over the maps the model sees: call the model on images, then
    ``summary()``. The keypoint head's blocks count each RoI as a map.
    """

    def __init__(self, model):
        self._capture = BlockCapture(model, on_call=self._add)
        self.blocks = self._capture.blocks
        self.per_map = {name: [] for name in self.blocks}

    def _add(self, name, block, x, output):
        if x.shape[0]:
            self.per_map[name].extend(block_statistics(block, x, output))

    def remove(self):
        self._capture.remove()

    def summary(self):
        """{block name: {statistic: mean over the maps (None where undefined), "maps": count}}."""
        out = {}
        for name, maps in self.per_map.items():
            row = {"maps": len(maps)}
            for key in STATISTICS:
                values = [m[key] for m in maps if m[key] is not None and not math.isnan(m[key])]
                row[key] = sum(values) / len(values) if values else None
            out[name] = row
        return out


def statistics_markdown(summary):
    """One row per block."""
    lines = [
        "| block | maps | attention: query distance | input distance | output distance | "
        "entropy / log S | weight near the query | uniform near the query |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in summary.items():
        cells = [name, str(row["maps"])]
        cells += ["-" if row[k] is None else f"{row[k]:.3f}" for k in STATISTICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
