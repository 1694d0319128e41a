"""
A built-in synthetic dataset whose labels need long-range relations: grey circles, squares and
triangles at one end of a wide image, and a coloured stripe, the cue, across the other end. Every
object's category is the cue's colour ("red_cue" or "blue_cue"), so it cannot be decided from
the object and its surroundings: the cue is at least half the image's width away from the
object's centre. The objects' shape is a distractor, independent of the label. A classifier
that cannot see the cue is right on half of the objects.

``nl_relation_shapes_local`` is the control with the relation given as an input: the same
images, each object drawn in the cue's colour instead of grey, so that its label is local. A
model that learns the control at a schedule shows that the labels are learnable there.

Generated deterministically from seeds into ``$DETECTRON2_DATASETS/nl_relation_shapes[_local]``
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

CLASSES = ("red_cue", "blue_cue")
CUE_COLORS = ((0, 0, 230), (230, 0, 0))  # BGR, per class
GENERATOR_VERSION = 1
IMAGE_HEIGHT, IMAGE_WIDTH = 64, 192
CUE_WIDTH = 32
# The smallest horizontal distance between the cue's nearest column and an object's centre: half
# the image's width.
MIN_DISTANCE = IMAGE_WIDTH // 2
# split name: (number of images, seed)
SPLITS = {"train": (600, 10), "val": (200, 11)}
VARIANTS = {"nl_relation_shapes": False, "nl_relation_shapes_local": True}  # name: local cue
# The registered names, generated on first use.
RELATION_DATASETS = tuple(f"{name}_{split}" for name in VARIANTS for split in SPLITS)


def relation_root(name="nl_relation_shapes"):
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), name)


def draw_relation_image(rng, image_id, *, local=False):
    """
    Draw one image; return (BGR uint8 image, COCO annotations without ids). The draws from
    ``rng`` do not depend on ``local``, so both variants have the same scenes.
    """
    image = noisy_background(rng, IMAGE_HEIGHT, IMAGE_WIDTH)
    category = int(rng.integers(len(CLASSES)))
    color = [int(c) + int(rng.integers(-20, 21)) for c in CUE_COLORS[category]]
    color = [min(max(c, 0), 255) for c in color]
    # the cue across the left or the right end; the objects' centres at least MIN_DISTANCE
    # from its nearest column
    if rng.integers(2):
        image[:, :CUE_WIDTH] = color
        low, high = CUE_WIDTH + MIN_DISTANCE, IMAGE_WIDTH
    else:
        image[:, IMAGE_WIDTH - CUE_WIDTH :] = color
        low, high = 0, IMAGE_WIDTH - CUE_WIDTH - MIN_DISTANCE
    annotations, boxes = [], []
    for _ in range(rng.integers(1, 3)):
        extent = rng.uniform(18, 30)
        center = np.array(
            [
                rng.uniform(max(low, extent / 2 + 2), min(high, IMAGE_WIDTH - extent / 2 - 2)),
                rng.uniform(extent / 2 + 2, IMAGE_HEIGHT - extent / 2 - 2),
            ]
        )
        shape = SHAPES[int(rng.integers(len(SHAPES)))]
        polygon = shape_polygon(shape, center, extent, rng.uniform(0, 2 * np.pi))
        grey = int(rng.integers(150, 256))
        box = np.concatenate([polygon.min(axis=0), polygon.max(axis=0)])
        if not all(disjoint(box, other) for other in boxes):
            continue
        boxes.append(box)
        fill_polygon(image, polygon, color if local else [grey] * 3)
        annotations.append(
            polygon_annotation(polygon, category + 1, image_id, IMAGE_HEIGHT, IMAGE_WIDTH)
        )
    return image, annotations


def generate_relation_split(root, split, *, local=False):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` unless an up-to-date copy
    is there. Returns: str, the COCO JSON file.
    """
    return write_relation_split(
        root,
        split,
        splits=SPLITS,
        version=GENERATOR_VERSION,
        draw=draw_relation_image,
        classes=CLASSES,
        image_size=(IMAGE_HEIGHT, IMAGE_WIDTH),
        local=local,
    )


def register_relation_shapes(root=None):
    """
    Register ``nl_relation_shapes_{train,val}`` and ``nl_relation_shapes_local_{train,val}``
    (generated on first use) under ``root`` (default ``$DETECTRON2_DATASETS``, or ./datasets).
    """
    register_relation_variants(
        VARIANTS,
        SPLITS,
        generate_relation_split,
        root=root,
        default_root=relation_root,
        classes=CLASSES,
    )
