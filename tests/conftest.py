import os
import tempfile

import pytest

# The demo dataset is generated under $DETECTRON2_DATASETS; keep the tests' copy out of the repo.
# Set before nl_detectron is imported, which registers the dataset.
os.environ.setdefault(
    "DETECTRON2_DATASETS", os.path.join(tempfile.gettempdir(), "nl_detectron_test_datasets")
)


@pytest.fixture(scope="session")
def keypoint_weights(tmp_path_factory):
    """The briefly trained keypoint demo model of ``helpers.brief_keypoint_weights``, trained
    once for the session (the export and viewer tests share it)."""
    from tests.helpers import brief_keypoint_weights

    return brief_keypoint_weights(tmp_path_factory.mktemp("keypoint"))
