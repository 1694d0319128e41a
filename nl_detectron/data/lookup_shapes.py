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

``nl_lookup_hues`` is the same lookup keyed by a property that survives a CNN's down-sampling:
each query and its key share a hue (red, green or blue; the objects' shapes are drawn at random,
a distractor), the queries at a middle shade, each key light or dark at random, and a query's
category is its hue and its key's shade ("red_light", ..., "blue_dark"). With the shape lookup,
it separates what the block can match on from what it learns: shapes are barely separable in
R18's res4 features at these sizes, hues are (docs/experiments_appendix.md).

Generated deterministically from seeds into ``$DETECTRON2_DATASETS/<name>`` the first time it is
used, as the other relational datasets are.
"""

import functools
import os
from dataclasses import dataclass

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
# The hue lookup: identity hues (BGR channel), a query's middle shade, and the keys' shades.
HUE_NAMES = ("red", "green", "blue")
HUE_CHANNELS = (2, 1, 0)
SHADE_NAMES = ("light", "dark")
QUERY_SHADE = (200, 60)  # (the hue's channel, the others)
KEY_SHADES = ((255, 140), (130, 0))  # per shade (light against the panel too)
IMAGE_HEIGHT, IMAGE_WIDTH = 64, 512
END_WIDTH = 80  # the keys' panel at one end, the queries at the other
PANEL_GREY = 200
EXTENT = (18.0, 24.0)
MARGIN = 2  # pixels between an object's box and its end's border
# Keys and queries kept MARGIN inside their ends: centres at least
# IMAGE_WIDTH - 2 * END_WIDTH + 2 * (EXTENT[0] / 2 + MARGIN) pixels apart.
MIN_DISTANCE = IMAGE_WIDTH - 2 * END_WIDTH + 2 * (EXTENT[0] / 2 + MARGIN)


@dataclass(frozen=True)
class Lookup:
    """
    One lookup task: what a query shares with its key (``identities``, one pair each), the key's
    property that labels the query (``labels``), and what a generated copy holds (``version``,
    ``splits``: split -> (number of images, seed)). Category id - 1 = identity * len(labels) +
    label.
    """

    key_by: str  # "shape" or "hue"
    identities: tuple
    labels: tuple
    version: int
    splits: dict

    @property
    def classes(self):
        return tuple(f"{i}_{label}" for i in self.identities for label in self.labels)


SHAPE_LOOKUP = Lookup("shape", SHAPES, COLOR_NAMES, 3, {"train": (600, 30), "val": (200, 31)})
HUE_LOOKUP = Lookup("hue", HUE_NAMES, SHADE_NAMES, 1, {"train": (600, 32), "val": (200, 33)})
CLASSES = SHAPE_LOOKUP.classes
SPLITS = SHAPE_LOOKUP.splits
# dataset name: (lookup, local label)
VARIANTS = {
    "nl_lookup_shapes": (SHAPE_LOOKUP, False),
    "nl_lookup_shapes_local": (SHAPE_LOOKUP, True),
    "nl_lookup_hues": (HUE_LOOKUP, False),
    "nl_lookup_hues_local": (HUE_LOOKUP, True),
}
# The registered names, generated on first use.
LOOKUP_DATASETS = tuple(
    f"{name}_{split}" for name, (lookup, _) in VARIANTS.items() for split in lookup.splits
)


def lookup_of(dataset_name):
    """The ``Lookup`` of a registered split's name (``nl_lookup_hues_val``), or None."""
    for name, (lookup, _) in VARIANTS.items():
        if dataset_name in (f"{name}_{split}" for split in lookup.splits):
            return lookup
    return None


def lookup_root(name="nl_lookup_shapes"):
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), name)


def category(identity, label, lookup=SHAPE_LOOKUP):
    """The category id (from 1) of a query of ``identity`` (index into ``lookup.identities``)
    whose key has ``label`` (index into ``lookup.labels``)."""
    return identity * len(lookup.labels) + label + 1


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


def _shade(hue, shade):
    """BGR of ``hue`` (index into ``HUE_NAMES``) at ``shade`` ((its channel, the others))."""
    color = [shade[1]] * 3
    color[HUE_CHANNELS[hue]] = shade[0]
    return color


def draw_lookup_image(rng, image_id, *, local=False, lookup=SHAPE_LOOKUP):
    """
    Draw one image of ``lookup``; return (BGR uint8 image, COCO annotations without ids: the
    queries, in the order of ``lookup.identities``, {"keys": [{"identity", "label", "bbox" (x,
    y, w, h)}, in the same order]}). The draws from ``rng`` do not depend on ``local``, so both
    variants have the same scenes.
    """
    image = noisy_background(rng, IMAGE_HEIGHT, IMAGE_WIDTH)
    ends = [(0, END_WIDTH), (IMAGE_WIDTH - END_WIDTH, IMAGE_WIDTH)]
    key_end, query_end = ends if rng.integers(2) else ends[::-1]
    pairs = len(lookup.identities)
    while True:
        keys = _place_in_end(rng, *key_end, pairs)
        queries = _place_in_end(rng, *query_end, pairs)
        if keys is not None and queries is not None:
            break
    key_labels = rng.integers(len(lookup.labels), size=pairs)
    angles = rng.uniform(0, 2 * np.pi, size=(2, pairs))
    if lookup.key_by == "shape":  # key i and query i are SHAPES[i]; keys red or blue
        shapes = np.tile(np.arange(pairs), (2, 1))
    else:  # a random shape each, the hue the identity
        shapes = rng.integers(len(SHAPES), size=(2, pairs))
    image[:, key_end[0] : key_end[1]] = PANEL_GREY
    key_fields = []
    for i, (center, extent) in enumerate(keys):
        polygon = shape_polygon(SHAPES[shapes[0, i]], center, extent, angles[0, i])
        if lookup.key_by == "shape":
            color = COLORS[key_labels[i]]
        else:
            color = _shade(i, KEY_SHADES[key_labels[i]])
        fill_polygon(image, polygon, _jittered(rng, color))
        (x0, y0), (x1, y1) = polygon.min(axis=0), polygon.max(axis=0)
        bbox = [float(x0), float(y0), float(x1 - x0), float(y1 - y0)]
        key_fields.append(
            {
                "identity": lookup.identities[i],
                "label": lookup.labels[key_labels[i]],
                "bbox": bbox,
            }
        )
    annotations = []
    for i, (center, extent) in enumerate(queries):
        polygon = shape_polygon(SHAPES[shapes[1, i]], center, extent, angles[1, i])
        if lookup.key_by == "shape":  # grey; the control: its key's colour
            own = [int(rng.integers(150, 256))] * 3
            local_color = _jittered(rng, COLORS[key_labels[i]])
        else:  # its hue at the middle shade; the control: at its key's shade
            own = _jittered(rng, _shade(i, QUERY_SHADE))
            local_color = _jittered(rng, _shade(i, KEY_SHADES[key_labels[i]]))
        fill_polygon(image, polygon, local_color if local else own)
        label = category(i, int(key_labels[i]), lookup)
        annotations.append(polygon_annotation(polygon, label, image_id, IMAGE_HEIGHT, IMAGE_WIDTH))
    return image, annotations, {"keys": key_fields}


def generate_lookup_split(root, split, *, local=False, lookup=SHAPE_LOOKUP):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` of ``lookup`` unless an
    up-to-date copy is there. Returns: str, the COCO JSON file.
    """
    return write_relation_split(
        root,
        split,
        splits=lookup.splits,
        version=lookup.version,
        draw=functools.partial(draw_lookup_image, lookup=lookup),
        classes=lookup.classes,
        image_size=(IMAGE_HEIGHT, IMAGE_WIDTH),
        local=local,
    )


def register_lookup_shapes(root=None):
    """
    Register ``<name>_{train,val}`` for every name of ``VARIANTS`` (generated on first use) under
    ``root`` (default ``$DETECTRON2_DATASETS``, or ./datasets).
    """
    for lookup in (SHAPE_LOOKUP, HUE_LOOKUP):
        register_relation_variants(
            {name: local for name, (lk, local) in VARIANTS.items() if lk == lookup},
            lookup.splits,
            functools.partial(generate_lookup_split, lookup=lookup),
            root=root,
            default_root=lookup_root,
            classes=lookup.classes,
        )
