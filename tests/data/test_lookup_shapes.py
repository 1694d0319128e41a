"""The lookup task: grey queries labelled with their shape and the colour of the key of their
shape, keys on a panel beyond the baseline's reach; its control with the label drawn on the
query."""

import json
import os

import cv2
import numpy as np
import pycocotools.mask as mask_util
import pytest

from detectron2.data import DatasetCatalog, MetadataCatalog

from nl_detectron.data.lookup_shapes import (
    CLASSES,
    COLOR_NAMES,
    COLORS,
    END_WIDTH,
    HUE_CHANNELS,
    HUE_LOOKUP,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    KEY_SHADES,
    LOOKUP_DATASETS,
    MIN_DISTANCE,
    PANEL_GREY,
    QUERY_SHADE,
    SPLITS,
    generate_lookup_split,
)
from nl_detectron.data.synthetic import SHAPES
from tests.helpers import REPO_ROOT, check_split_deterministic_and_cached, scores_change

CONFIG = os.path.join(REPO_ROOT, "configs", "demo", "faster_rcnn_R18_NL_lookup.yaml")
BASELINE = ["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone"]


def _colour(pixels):
    """The index into ``COLORS`` of the colour nearest to the mean of ``pixels`` (P, 3), or
    None for grey."""
    mean = pixels.mean(0)
    if mean.max() - mean.min() < 60:
        return None
    return int(np.argmin([np.abs(mean - c).sum() for c in COLORS]))


def _shape(mask):
    """The shape (index into ``SHAPES``) of a drawn object, by how much of its smallest rotated
    rectangle it fills: a square about 1, a circle pi / 4, a triangle about 1 / 2."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    (_, _), (w, h), _ = cv2.minAreaRect(points)
    fill = mask.sum() / max((w + 1) * (h + 1), 1)
    return SHAPES.index("square" if fill > 0.855 else "circle" if fill > 0.65 else "triangle")


def _panel(image):
    """(first, last column) of the keys' panel, the end whose top row is the panel's grey."""
    left = (image[0, :END_WIDTH] == PANEL_GREY).all()
    assert left != (image[0, -END_WIDTH:] == PANEL_GREY).all()
    return (0, END_WIDTH) if left else (IMAGE_WIDTH - END_WIDTH, IMAGE_WIDTH)


def _keys(image):
    """The keys: [(shape, colour, centre x)], the coloured objects of the panel."""
    low, high = _panel(image)
    end = image[:, low:high].astype(int)
    coloured = (end.max(-1) - end.min(-1)) > 120
    count, components = cv2.connectedComponents(coloured.astype(np.uint8))
    keys = []
    for k in range(1, count):
        mask = components == k
        keys.append((_shape(mask), _colour(end[mask]), low + np.nonzero(mask)[1].mean()))
    return keys


def _queries(coco, root, split="val"):
    """Per image: (the image, its JSON entry, [(category id, shape, drawn colour or None,
    centre x)])."""
    by_image = {}
    for ann in coco["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
    entries = {entry["id"]: entry for entry in coco["images"]}
    for image_id, annotations in sorted(by_image.items()):
        image = cv2.imread(str(root / split / f"{image_id:04d}.png"))
        assert image.shape == (IMAGE_HEIGHT, IMAGE_WIDTH, 3)
        queries = []
        for ann in annotations:
            rle = mask_util.frPyObjects(ann["segmentation"], IMAGE_HEIGHT, IMAGE_WIDTH)
            mask = mask_util.decode(mask_util.merge(rle)).astype(bool)
            x, _, w, _ = ann["bbox"]
            drawn = _colour(image[mask].astype(int))
            queries.append((ann["category_id"], _shape(mask), drawn, x + w / 2))
        yield image, entries[image_id], queries


def test_generation_is_deterministic_and_cached(tmp_path):
    check_split_deterministic_and_cached(generate_lookup_split, tmp_path, "val", SPLITS["val"][0])


def test_roles_labels_and_distances(tmp_path):
    with open(generate_lookup_split(str(tmp_path), "val")) as f:
        coco = json.load(f)
    assert [c["name"] for c in coco["categories"]] == list(CLASSES)
    key_colours = []
    for image, entry, queries in _queries(coco, tmp_path):
        keys = _keys(image)
        # the image's entry lists its keys as they are drawn
        for shape, colour, x in keys:
            listed = entry["keys"][shape]
            assert (listed["identity"], listed["label"]) == (SHAPES[shape], COLOR_NAMES[colour])
            assert abs(listed["bbox"][0] + listed["bbox"][2] / 2 - x) < 3
        # three keys, one of each shape, each red or blue; three grey queries, one of each shape
        assert sorted(k[0] for k in keys) == sorted(q[1] for q in queries) == [0, 1, 2]
        assert all(k[1] is not None for k in keys)
        assert all(q[2] is None for q in queries)
        colour_of = {shape: colour for shape, colour, _ in keys}
        for category_id, shape, _, x in queries:
            # the category: the query's own shape and its key's colour
            assert (
                CLASSES[category_id - 1] == f"{SHAPES[shape]}_{('red', 'blue')[colour_of[shape]]}"
            )
            # every key beyond reach of every query (a triangle's box centre lies off its own)
            assert all(abs(x - key_x) >= MIN_DISTANCE - 3 for _, _, key_x in keys)
        key_colours += list(colour_of.values())
    # both colours about as often
    assert 0.4 < np.mean(key_colours) < 0.6


def test_the_local_control_draws_the_same_scenes_with_the_label_on_the_query(tmp_path):
    with open(generate_lookup_split(str(tmp_path / "task"), "val")) as f:
        task = json.load(f)
    with open(generate_lookup_split(str(tmp_path / "control"), "val", local=True)) as f:
        control = json.load(f)
    assert task["annotations"] == control["annotations"]
    for _, _, queries in _queries(control, tmp_path / "control"):
        assert all(drawn == (category_id - 1) % len(COLORS) for category_id, _, drawn, _ in queries)


def test_registered_splits_are_evaluated_for_the_relation():
    for name in LOOKUP_DATASETS:
        meta = MetadataCatalog.get(name)
        classes = HUE_LOOKUP.classes if name.startswith("nl_lookup_hues") else CLASSES
        assert meta.thing_classes == list(classes) and meta.evaluate_relation
    assert len(DatasetCatalog.get("nl_lookup_shapes_val")) == SPLITS["val"][0]
    assert len(DatasetCatalog.get("nl_lookup_hues_val")) == HUE_LOOKUP.splits["val"][0]


def _hue_and_shade(pixels):
    """(hue, shade) of a drawn object's mean colour (P, 3): the hue its largest channel, the
    shade the nearest of the query's and the keys' (None for the query's middle shade)."""
    mean = pixels.mean(0)
    hue = HUE_CHANNELS.index(int(np.argmax(mean)))
    shades = [QUERY_SHADE, *KEY_SHADES]
    others = np.delete(mean, HUE_CHANNELS[hue]).mean()
    nearest = int(np.argmin([abs(mean.max() - a) + abs(others - b) for a, b in shades]))
    return hue, None if nearest == 0 else nearest - 1


@pytest.mark.parametrize("local", [False, True])
def test_the_hue_lookup_labels_each_query_with_its_hue_and_its_keys_shade(tmp_path, local):
    with open(generate_lookup_split(str(tmp_path), "val", lookup=HUE_LOOKUP, local=local)) as f:
        coco = json.load(f)
    assert [c["name"] for c in coco["categories"]] == list(HUE_LOOKUP.classes)
    entries = {entry["id"]: entry for entry in coco["images"]}
    labels = []
    for ann in coco["annotations"]:
        image = cv2.imread(str(tmp_path / "val" / f"{ann['image_id']:04d}.png")).astype(int)
        rle = mask_util.frPyObjects(ann["segmentation"], IMAGE_HEIGHT, IMAGE_WIDTH)
        mask = mask_util.decode(mask_util.merge(rle)).astype(bool)
        hue, shade = _hue_and_shade(image[mask])
        identity, label = divmod(ann["category_id"] - 1, len(HUE_LOOKUP.labels))
        # the query shows its hue, at the middle shade (the control: at its key's shade)
        assert hue == identity and shade == (label if local else None)
        key = entries[ann["image_id"]]["keys"][identity]
        assert key["identity"] == HUE_LOOKUP.identities[hue]
        assert key["label"] == HUE_LOOKUP.labels[label]
        # the key, drawn on the panel in its box: its hue at that shade
        x, y, w, h = (int(round(v)) for v in key["bbox"])
        box = image[y : y + h, x : x + w].reshape(-1, 3)
        assert _hue_and_shade(box[np.abs(box - PANEL_GREY).max(1) > 40]) == (hue, label)
        key_x, query_x = key["bbox"][0] + key["bbox"][2] / 2, ann["bbox"][0] + ann["bbox"][2] / 2
        assert abs(key_x - query_x) >= MIN_DISTANCE - 3
        labels.append(label)
    assert 0.4 < np.mean(labels) < 0.6


def _recoloured_keys(image):
    """``image`` with every key in the other colour (blue and red swapped on the panel)."""
    low, high = _panel(image)
    out = image.copy()
    out[:, low:high] = out[:, low:high, ::-1]
    return out


def test_the_baseline_cannot_see_the_keys_and_an_nl_model_can():
    dataset = "nl_lookup_shapes_val"
    assert scores_change(CONFIG, dataset, _recoloured_keys, BASELINE) == [False] * 3
    assert scores_change(CONFIG, dataset, _recoloured_keys, block_noise=True) == [True] * 3
