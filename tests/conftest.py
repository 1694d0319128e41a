import logging
import os
import tempfile

import pytest
import torch
from filelock import FileLock

# The demo dataset is generated under $DETECTRON2_DATASETS; keep the tests' copy out of the repo.
# Set before nl_detectron is imported, which registers the dataset.
os.environ.setdefault(
    "DETECTRON2_DATASETS", os.path.join(tempfile.gettempdir(), "nl_detectron_test_datasets")
)


def pytest_configure(config):
    """Under pytest-xdist (``make test`` runs two workers), the cores are split among the
    workers: each worker, and each tool it starts, gets ``cores // workers`` threads, unless
    OMP_NUM_THREADS says otherwise."""
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")
    if workers:
        threads = max(1, (os.cpu_count() or 1) // int(workers))
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def pytest_collection_modifyitems(config, items):
    """The files with end-to-end tests (marked slow) first, each file's tests kept together and
    in order: under xdist's ``--dist loadfile`` a long file that started last would finish
    alone while the other worker idles."""
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}
    items.sort(key=lambda item: item.path not in slow_files)


@pytest.fixture(autouse=True)
def logs_reach_caplog(monkeypatch):
    """detectron2's ``setup_logger``, which a tool run in-process calls, stops these loggers'
    propagation; ``caplog`` reads the root logger. So that a test does not depend on which tests
    ran before it in its process, they propagate during every test."""
    for name in ("detectron2", "fvcore", "nl_detectron"):
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)


def shared_folder(tmp_path_factory, name):
    """(a folder ``name`` that every worker of this run shares, a lock for it)."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # the run's folder, above the worker's own
    folder = root / name
    return folder, FileLock(str(folder) + ".lock")


@pytest.fixture(scope="session")
def keypoint_weights(tmp_path_factory):
    """The briefly trained keypoint demo model of ``helpers.brief_keypoint_weights``, trained
    once for the run, whichever worker asks first (the export and viewer tests share it)."""
    from tests.helpers import brief_keypoint_weights

    folder, lock = shared_folder(tmp_path_factory, "keypoint")
    with lock:
        done = folder / "weights_path"
        if not done.exists():
            folder.mkdir(exist_ok=True)
            done.write_text(brief_keypoint_weights(folder))
        return done.read_text()
