"""The dataset mapper of training and evaluation: detectron2's, naming the images it cannot read."""

import logging

from detectron2.data import DatasetMapper

logger = logging.getLogger(__name__)


class CheckedDatasetMapper(DatasetMapper):
    """
    detectron2's ``DatasetMapper`` where an image that cannot be read (missing, corrupt, not an
    image) is named: in training it is skipped with a warning (detectron2's data loader then
    takes another image), at test time it fails with the file's path. Grayscale and 4-channel
    images are converted to the model's 3-channel format, as detectron2 does.
    """

    def __call__(self, dataset_dict):
        try:
            return super().__call__(dataset_dict)
        except (OSError, SyntaxError) as e:  # PIL reports truncated files as SyntaxError too
            path = dataset_dict.get("file_name")
            if not self.is_train:
                raise OSError(f"{path}: cannot read this image ({e})") from e
            logger.warning(f"Skipped {path}: cannot read this image ({e})")
            return None
