"""``data.synthetic.write_split``, shared by the built-in datasets."""

import json
import os
import threading

import numpy as np

from nl_detectron.data import synthetic


def _draw(rng, image_id):
    return np.full((8, 8, 3), image_id, np.uint8), []


def _write(root):
    info = {"generator_version": 1, "num_images": 3, "seed": 0}
    return synthetic.write_split(
        root, "val", info=info, draw=_draw, categories=[{"id": 1, "name": "a"}], image_size=(8, 8)
    )


def test_two_writers_of_one_split_at_once_both_finish(tmp_path, monkeypatch):
    """
    Two trainings started at once both generate the split: the first writer's JSON is written,
    then held open while the second writes all of its files; both then end with the whole split.
    (A temporary name shared by the two, as ``<split>.json.tmp``, lost the first writer's file to
    the second's rename: FileNotFoundError.)
    """
    dump = json.dump
    second_done = threading.Event()
    first = threading.current_thread()

    def held_dump(data, f):
        dump(data, f)
        if threading.current_thread() is first:
            f.flush()
            second = threading.Thread(target=lambda: results.append(_write(str(tmp_path))))
            second.start()
            second.join()
            second_done.set()

    results = []
    monkeypatch.setattr(synthetic.json, "dump", held_dump)
    results.append(_write(str(tmp_path)))
    monkeypatch.undo()
    assert second_done.is_set() and len(results) == 2
    with open(results[0]) as f:
        coco = json.load(f)
    assert [i["file_name"] for i in coco["images"]] == ["0001.png", "0002.png", "0003.png"]
    names = sorted(os.listdir(tmp_path / "val")) + sorted(os.listdir(tmp_path / "annotations"))
    assert names == ["0001.png", "0002.png", "0003.png", "val.json"]  # no temporary file left
