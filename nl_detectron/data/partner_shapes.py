"""
A built-in synthetic dataset whose labels need a query-dependent relation: in each wide image,
two pairs of objects, the partners of a pair of one shape (circle, square or triangle; the two
pairs of different shapes), one partner at each end. Every object is red or blue at random, and
its category is its partner's colour ("partner_red" or "partner_blue"): which other object
matters depends on what the object itself is, so one map shared by every query (SNL, GC) cannot
point each object to its partner, and the object's own colour says nothing. Partners' centres
are at least 88 pixels apart, nearly half the image's width.

``nl_partner_shapes_local`` is the control with the label made local: the same scenes, each
object drawn in its partner's colour, so its own colour is its label.

Generated deterministically from seeds into ``$DETECTRON2_DATASETS/nl_partner_shapes[_local]``
the first time it is used, as the demo shapes are.
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

CLASSES = ("partner_red", "partner_blue")
COLORS = ((0, 0, 230), (230, 0, 0))  # BGR, per class
GENERATOR_VERSION = 1
IMAGE_HEIGHT, IMAGE_WIDTH = 64, 192
# Each pair has one partner in the left end and one in the right end, each end this wide: with
# objects of 20 to 25 pixels kept 2 pixels inside their end, partners' centres are at least
# 192 - 64 + 12 - (64 - 12) = 88 pixels apart.
END_WIDTH = 64
# split name: (number of images, seed)
SPLITS = {"train": (600, 20), "val": (200, 21)}
VARIANTS = {"nl_partner_shapes": False, "nl_partner_shapes_local": True}  # name: local label
# The registered names, generated on first use.
PARTNER_DATASETS = tuple(f"{name}_{split}" for name in VARIANTS for split in SPLITS)


def partner_root(name="nl_partner_shapes"):
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), name)


def _place_pairs(rng):
    """
    Two pairs of (center, extent), each pair with one object in each end of the image, all
    boxes disjoint; None where an object found no room.
    """
    ends = [(0, END_WIDTH), (IMAGE_WIDTH - END_WIDTH, IMAGE_WIDTH)]
    boxes, pairs = [], []
    for _pair in range(2):
        pair = []
        for low, high in ends if rng.integers(2) else ends[::-1]:
            for _attempt in range(50):
                extent = rng.uniform(20, 25)
                center = np.array(
                    [
                        rng.uniform(low + extent / 2 + 2, high - extent / 2 - 2),
                        rng.uniform(extent / 2 + 2, IMAGE_HEIGHT - extent / 2 - 2),
                    ]
                )
                box = np.concatenate([center - extent / 2, center + extent / 2])
                if all(disjoint(box, other) for other in boxes):
                    break
            else:
                return None
            boxes.append(box)
            pair.append((center, extent))
        pairs.append(pair)
    return pairs


def draw_partner_image(rng, image_id, *, local=False):
    """
    Draw one image; return (BGR uint8 image, COCO annotations without ids). The draws from
    ``rng`` do not depend on ``local``, so both variants have the same scenes.
    """
    image = noisy_background(rng, IMAGE_HEIGHT, IMAGE_WIDTH)
    shapes = rng.choice(len(SHAPES), 2, replace=False)
    while True:  # until both pairs fit: with one pair, "the other object" needs no matching
        placed = _place_pairs(rng)
        if placed is not None:
            break
    objects = []
    for shape, pair in zip(shapes, placed):
        colors = rng.integers(len(CLASSES), size=2)
        angles = rng.uniform(0, 2 * np.pi, size=2)
        for k, (center, extent) in enumerate(pair):
            label = int(colors[1 - k])  # the partner's colour
            own = label if local else int(colors[k])
            jitter = rng.integers(-20, 21, size=3)
            color = [min(max(int(c) + int(j), 0), 255) for c, j in zip(COLORS[own], jitter)]
            polygon = shape_polygon(SHAPES[shape], center, extent, angles[k])
            objects.append((polygon, color, label))
    annotations = []
    for polygon, color, label in objects:
        fill_polygon(image, polygon, color)
        annotations.append(
            polygon_annotation(polygon, label + 1, image_id, IMAGE_HEIGHT, IMAGE_WIDTH)
        )
    return image, annotations


def generate_partner_split(root, split, *, local=False):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` unless an up-to-date copy
    is there. Returns: str, the COCO JSON file.
    """
    return write_relation_split(
        root,
        split,
        splits=SPLITS,
        version=GENERATOR_VERSION,
        draw=draw_partner_image,
        classes=CLASSES,
        image_size=(IMAGE_HEIGHT, IMAGE_WIDTH),
        local=local,
    )


def register_partner_shapes(root=None):
    """
    Register ``nl_partner_shapes_{train,val}`` and ``nl_partner_shapes_local_{train,val}``
    (generated on first use) under ``root`` (default ``$DETECTRON2_DATASETS``, or ./datasets).
    """
    register_relation_variants(
        VARIANTS,
        SPLITS,
        generate_partner_split,
        root=root,
        default_root=partner_root,
        classes=CLASSES,
    )
