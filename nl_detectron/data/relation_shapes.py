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

``nl_relation_far`` (and its ``_local`` control) is the same task out of a CNN's reach: 512
pixels wide, every object's centre at least 384 pixels from the cue, farther than anything the
baseline R18-FPN's heads read can see (its every feature depends on the input within about 260
pixels), so that the class scores the baseline gives an object do not depend on the cue at all
(``tests/data/test_relation_far.py`` checks it on the model).

Generated deterministically from seeds into ``$DETECTRON2_DATASETS/<name>`` the first time it is
used, as the demo shapes are.
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

CLASSES = ("red_cue", "blue_cue")
CUE_COLORS = ((0, 0, 230), (230, 0, 0))  # BGR, per class
IMAGE_HEIGHT = 64
CUE_WIDTH = 32


@dataclass(frozen=True)
class Layout:
    """
    One task's geometry: ``width`` (pixels) of its ``IMAGE_HEIGHT`` high images, and
    ``min_distance``, the smallest horizontal distance between the cue's nearest column and an
    object's centre. ``version`` and ``splits`` (split: (number of images, seed)) name what a
    generated copy holds.
    """

    width: int
    min_distance: int
    version: int
    splits: dict


# The task within a CNN's reach (half the image's width) and the one beyond it.
NEAR = Layout(192, 96, version=1, splits={"train": (600, 10), "val": (200, 11)})
FAR = Layout(512, 384, version=1, splits={"train": (600, 12), "val": (200, 13)})
SPLITS = NEAR.splits  # the near task's, which the tests and tools name
# dataset name: (layout, local cue)
VARIANTS = {
    "nl_relation_shapes": (NEAR, False),
    "nl_relation_shapes_local": (NEAR, True),
    "nl_relation_far": (FAR, False),
    "nl_relation_far_local": (FAR, True),
}
# The registered names, generated on first use.
RELATION_DATASETS = tuple(
    f"{name}_{split}" for name, (layout, _) in VARIANTS.items() for split in layout.splits
)


def relation_root(name="nl_relation_shapes"):
    return os.path.join(os.getenv("DETECTRON2_DATASETS", "datasets"), name)


def draw_relation_image(rng, image_id, *, local=False, layout=NEAR):
    """
    Draw one image of ``layout``; return (BGR uint8 image, COCO annotations without ids). The
    draws from ``rng`` do not depend on ``local``, so both variants have the same scenes.
    """
    width, min_distance = layout.width, layout.min_distance
    image = noisy_background(rng, IMAGE_HEIGHT, width)
    category = int(rng.integers(len(CLASSES)))
    color = [int(c) + int(rng.integers(-20, 21)) for c in CUE_COLORS[category]]
    color = [min(max(c, 0), 255) for c in color]
    # the cue across the left or the right end; the objects' centres at least min_distance
    # from its nearest column
    if rng.integers(2):
        image[:, :CUE_WIDTH] = color
        low, high = CUE_WIDTH + min_distance, width
    else:
        image[:, width - CUE_WIDTH :] = color
        low, high = 0, width - CUE_WIDTH - min_distance
    annotations, boxes = [], []
    for _ in range(rng.integers(1, 3)):
        extent = rng.uniform(18, 30)
        center = np.array(
            [
                rng.uniform(max(low, extent / 2 + 2), min(high, width - extent / 2 - 2)),
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
        annotations.append(polygon_annotation(polygon, category + 1, image_id, IMAGE_HEIGHT, width))
    return image, annotations


def generate_relation_split(root, split, *, local=False, layout=NEAR):
    """
    Write ``root/<split>/*.png`` and ``root/annotations/<split>.json`` of ``layout`` unless an
    up-to-date copy is there. Returns: str, the COCO JSON file.
    """
    return write_relation_split(
        root,
        split,
        splits=layout.splits,
        version=layout.version,
        draw=functools.partial(draw_relation_image, layout=layout),
        classes=CLASSES,
        image_size=(IMAGE_HEIGHT, layout.width),
        local=local,
    )


def register_relation_shapes(root=None):
    """
    Register ``<name>_{train,val}`` for every name of ``VARIANTS`` (generated on first use)
    under ``root`` (default ``$DETECTRON2_DATASETS``, or ./datasets).
    """
    for layout in (NEAR, FAR):
        register_relation_variants(
            {name: local for name, (lay, local) in VARIANTS.items() if lay == layout},
            layout.splits,
            functools.partial(generate_relation_split, layout=layout),
            root=root,
            default_root=relation_root,
            classes=CLASSES,
        )
