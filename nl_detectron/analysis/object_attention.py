"""
Where a block's object queries look: for each object, the query at its box centre, the share of
its attention on the key cells that overlap its related object's box (the lookup task's key, the
far task's cue) and on its own box, beside the shares uniform weights would put there; and per
image, GCNet's query distance taken over the objects' queries only (0: every object looks at the
same map, whatever it is).
"""

import torch

from .attention_stats import mean_pairwise_cosine_distance


def key_cell_boxes(input_size, key_grid):
    """
    Args:
        input_size: (H, W) of the backbone's input, resized pixels.
        key_grid: (H', W') of the block's key positions.
    Returns:
        (S, 4) float: each key cell's box (x0, y0, x1, y1) in resized pixels, row-major.
    """
    (h, w), (kh, kw) = input_size, key_grid
    ys = torch.arange(kh + 1, dtype=torch.float64) * h / kh
    xs = torch.arange(kw + 1, dtype=torch.float64) * w / kw
    y0, x0 = torch.meshgrid(ys[:-1], xs[:-1], indexing="ij")
    y1, x1 = torch.meshgrid(ys[1:], xs[1:], indexing="ij")
    return torch.stack([x0, y0, x1, y1], dim=-1).reshape(-1, 4)


def overlapping(cells, box):
    """(S,) bool: the cells (S, 4) that overlap ``box`` (x0, y0, x1, y1) by a positive area."""
    box = torch.as_tensor(box, dtype=cells.dtype)
    return (
        (cells[:, 0] < box[2])
        & (box[0] < cells[:, 2])
        & (cells[:, 1] < box[3])
        & (box[1] < cells[:, 3])
    )


@torch.no_grad()
def object_attention(block, x, input_size, objects):
    """
    Args:
        block: an ``AttentionBlock``; x: (1, C, H, W) its input on one image.
        input_size: (H, W) of the backbone's input (resized pixels) that x's grid covers.
        objects: list of (box, related box or None), boxes (x0, y0, x1, y1) in resized pixels.
    Returns:
        (rows, distance): rows, per object, a dict of ``related`` and ``own`` (attention share on
        the key cells overlapping that box; None without a related box) and ``related_uniform``,
        ``own_uniform`` (the share of key cells overlapping it); distance, the mean cosine
        distance between the objects' attention rows (nan for fewer than 2 objects).
    """
    h, w = x.shape[-2:]
    cells = key_cell_boxes(input_size, block.key_grid(h, w))
    stride_y, stride_x = input_size[0] / h, input_size[1] / w
    queries = [
        (
            min(int((b[1] + b[3]) / 2 / stride_y), h - 1),
            min(int((b[0] + b[2]) / 2 / stride_x), w - 1),
        )
        for b, _ in objects
    ]
    if not queries:
        return [], float("nan")
    weights = block.attention(x).rows(queries)[0].double()  # (objects, S)
    rows = []
    for (box, related), row in zip(objects, weights):
        own = overlapping(cells, box)
        entry = {"own": row[own].sum().item(), "own_uniform": own.double().mean().item()}
        if related is None:
            entry.update(related=None, related_uniform=None)
        else:
            mask = overlapping(cells, related)
            entry.update(
                related=row[mask].sum().item(), related_uniform=mask.double().mean().item()
            )
        rows.append(entry)
    return rows, mean_pairwise_cosine_distance(weights)
