import os
import tempfile

# The demo dataset is generated under $DETECTRON2_DATASETS; keep the tests' copy out of the repo.
# Set before nl_detectron is imported, which registers the dataset.
os.environ.setdefault(
    "DETECTRON2_DATASETS", os.path.join(tempfile.gettempdir(), "nl_detectron_test_datasets")
)
