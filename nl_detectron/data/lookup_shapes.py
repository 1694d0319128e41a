"""
A built-in synthetic dataset whose labels are a lookup that depends on the query object: in each
512-pixel wide image, three coloured **keys** on a light panel at one end (a circle, a square
and a triangle, each red or blue at random) and three grey **queries** at the other end (the
same three shapes). A query's category is its own shape and the colour of the key of its shape
("circle_red", ..., "triangle_blue"); the keys are context, not annotated: each image's entry
of the COCO JSON lists them under ``"keys"`` (shape, colour, box), for the attention measures.

- Which key matters depends on the query: one map shared by every query (SNL, GC) must carry all
  three bindings at once, shape by shape.
- Neither the query's own appearance (grey) nor a match with itself answers the colour: the only
  coloured object of its shape is its key.
- Every key centre is at least ``MIN_DISTANCE`` (374) pixels from every query centre, beyond
  the baseline R18-FPN's reach (about 260 pixels), so that its twin is at chance on the colour
  by construction (``tests/data/test_lookup_shapes.py`` checks it on the model).
- The shape half of the category is local: the detector learns it from the query itself, so
  with the shapes right, chance is 50%.

``nl_lookup_shapes_local`` is the control with the label made local: the same scenes, each query
drawn in its key's colour.

Generated deterministically from seeds into ``$DETECTRON2_DATASETS/nl_lookup_shapes[_local]``
the first time it is used, as the other relational datasets are.
"""

import os

import numpy as np

from .synthetic import (
    SHAPES,
    disjoint,
    fill_polygon,
    noisy_background,
    polygon_annotation,
    register_relation_variants,
    shape_polygon,
    write_relation_split,
)

COLOR_NAMES = ("red", "blue")
COLORS = ((0, 0, 230), (230, 0, 0))  # BGR, per colour
# category id - 1 = shape * 2 + the key's colour
CLASSES = tuple(f"{shape}_{color}" for shape in SHAPES for color in COLOR_NAMES)
GENERATOR_VERSION = 2
IMAGE_HEIGHT, IMAGE_WIDTH = 64, 512
END_WIDTH = 80  # the keys' panel at one end, the queries at the other
PANEL_GREY = 200
EXTENT = (18.0, 24.0)
MARGIN = 2  # pixels between an object's box and its end's border
# Keys and queries kept MARGIN inside their ends: centres at least
# IMAGE_WIDTH - 2 * END_WIDTH + 2 * (EXTENT[0] / 2 + MARGIN) pixels apart.
MIN_DISTANCE = IMAGE_WIDTH - 2 * END_WIDTH + 2 * (EXTENT[0] / 2 + MARGIN)
# split name: (number of images, seed)
SPLITS = {"train": (600, 30), "val": (200, 31)}
VARIANTS = {"nl_lookup_shapes": False, "nl_lookup_shapes_local": True}  # name: local label
# The registered names, generated on first use.
LOOKUP_DATASETS = tuple(f"{name}_{split}" for name in VARIANTS for split in SPLITS)


def lookup_root(name="nl_lookup_shapes"):
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), name)


def category(shape, key_color):
    """The category id (from 1) of a query of ``shape`` (index into ``SHAPES``) whose key is
    ``key_color`` (index into ``COLORS``)."""
    return shape * len(COLORS) + key_color + 1


def _place_in_end(rng, low, high, count):
    """``count`` disjoint (center, extent) with boxes in columns [low, high), MARGIN inside the
    end; None where an object found no room."""
    placed, boxes = [], []
    for _ in range(count):
        for _attempt in range(50):
            extent = rng.uniform(*EXTENT)
            half = extent / 2 + MARGIN
            center = np.array(
                [rng.uniform(low + half, high - half), rng.uniform(half, IMAGE_HEIGHT - half)]
            )
            box = np.concatenate([center - extent / 2, center + extent / 2])
            if all(disjoint(box, other) for other in boxes):
                break
        else:
            return None
        boxes.append(box)
        placed.append((center, extent))
    return placed


def _jittered(rng, color):
    return [min(max(int(c) + int(j), 0), 255) for c, j in zip(color, rng.integers(-20, 21, 3))]


def draw_lookup_image(rng, image_id, *, local=False):
    """
    Draw one image; return (BGR uint8 image, COCO annotations without ids: the queries, in the
    order of ``SHAPES``, {"keys": [{"shape", "color", "bbox" (x, y, w, h)}, in the order of
    ``SHAPES``]}). The draws from ``rng`` do not depend on ``local``, so both variants have the
    same scenes.
    """
    image = noisy_background(rng, IMAGE_HEIGHT, IMAGE_WIDTH)
    ends = [(0, END_WIDTH), (IMAGE_WIDTH - END_WIDTH, IMAGE_WIDTH)]
    key_end, query_end = ends if rng.integers(2) else ends[::-1]
    while True:
        keys = _place_in_end(rng, *key_end, len(SHAPES))
        queries = _place_in_end(rng, *query_end, len(SHAPES))
        if keys is not None and queries is not None:
            break
    key_colors = rng.integers(len(COLORS), size=len(SHAPES))
    angles = rng.uniform(0, 2 * np.pi, size=(2, len(SHAPES)))
    image[:, key_end[0] : key_end[1]] = PANEL_GREY
    key_fields = []
    for shape, (center, extent) in enumerate(keys):
        polygon = shape_polygon(SHAPES[shape], center, extent, angles[0, shape])
        fill_polygon(image, polygon, _jittered(rng, COLORS[key_colors[shape]]))
        (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
        bbox = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
        key_fields.append(
            {"shape": SHAPES[shape], "color": COLOR_NAMES[key_colors[shape]], "bbox": bbox}
        )
    annotations = []
    for shape, (center, extent) in enumerate(queries):
        polygon = shape_polygon(SHAPES[shape], center, extent, angles[1, shape])
        grey = [int(rng.integers(150, 256))] * 3
        local_color = _jittered(rng, COLORS[key_colors[shape]])
        fill_polygon(image, polygon, local_color if local else grey)
        label = category(shape, int(key_colors[shape]))
        annotations.append(polygon_annotation(polygon, label, image_id, IMAGE_HEIGHT, IMAGE_WIDTH))
    return image, annotations, {"keys": key_fields}


def generate_lookup_split(root, split, *, local=False):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` unless an up-to-date copy
    is there. Returns: str, the COCO JSON file.
    """
    return write_relation_split(
        root,
        split,
        splits=SPLITS,
        version=GENERATOR_VERSION,
        draw=draw_lookup_image,
        classes=CLASSES,
        image_size=(IMAGE_HEIGHT, IMAGE_WIDTH),
        local=local,
    )


def register_lookup_shapes(root=None):
    """
    Register ``nl_lookup_shapes_{train,val}`` and ``nl_lookup_shapes_local_{train,val}``
    (generated on first use) under ``root`` (default ``$DETECTRON2_DATASETS``, or ./datasets).
    """
    register_relation_variants(
        VARIANTS,
        SPLITS,
        generate_lookup_split,
        root=root,
        default_root=lookup_root,
        classes=CLASSES,
    )
