"""
Checkpoint loading that runs no code from the file, and saving that never leaves a corrupt file
as the one a resumed training starts from.

detectron2 reads ``.pkl`` checkpoints with ``pickle``, which can run any code the file asks for.
Here a ``.pkl`` is unpickled once, with only the types checkpoints hold (dicts, lists, numbers,
strings, numpy arrays and their dtypes), and a ``.pth`` or ``.pyth`` with
``torch.load(weights_only=True)``;
``allow_unsafe=True`` restores detectron2's behaviour, for files you trust.
"""

import os
import pickle

import torch

from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.file_io import PathManager

# (module, name) globals a checkpoint may reference; numpy 1.x and 2.x spell the module apart.
SAFE_GLOBALS = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # bytes in protocol-2 pickles of numpy arrays
}


class UnsafeCheckpointError(pickle.UnpicklingError):
    pass


class CheckpointReadError(ValueError):
    """A file that is not a checkpoint, or a truncated one."""


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, path, **kwargs):
        super().__init__(file, **kwargs)
        self.path = path

    def find_class(self, module, name):
        if (module, name) in SAFE_GLOBALS or (
            module.startswith("numpy.dtypes") and name.endswith("DType")
        ):
            return super().find_class(module, name)
        raise UnsafeCheckpointError(
            f"{self.path} asks to load {module}.{name}, which is not a type a checkpoint holds "
            "(dicts, lists, numbers, strings, numpy arrays): refusing to unpickle it, since "
            "unpickling can run code. If you trust this file, load it with allow_unsafe=True "
            "(tools: --allow-unsafe-checkpoint)."
        )


def pickle_load(path):
    """Plain ``pickle`` (latin1 for Python 2 files, as detectron2): for trusted files only."""
    with PathManager.open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")


def load_pickle(path):
    """
    Unpickle a ``.pkl`` checkpoint allowing only ``SAFE_GLOBALS`` (latin1 for Python 2 files,
    as detectron2 does).

    Raises:
        UnsafeCheckpointError: naming the file and the global it asked for.
    """
    with PathManager.open(path, "rb") as f:
        return _RestrictedUnpickler(f, path, encoding="latin1").load()


class SafeCheckpointer(DetectionCheckpointer):
    """
    detectron2's ``DetectionCheckpointer`` (same formats, Caffe2 name conversion, model-zoo
    ``.pkl`` files) that loads without running code from the file unless ``allow_unsafe``, and
    saves atomically: a checkpoint file, and the ``last_checkpoint`` tag naming it, appear whole
    or not at all.
    """

    def __init__(self, model, save_dir="", *, allow_unsafe=False, **checkpointables):
        super().__init__(model, save_dir, **checkpointables)
        self.allow_unsafe = allow_unsafe

    def _load_file(self, filename):
        try:
            return self._read(filename)
        except (UnsafeCheckpointError, CheckpointReadError, OSError):  # these name the file
            raise
        except Exception as e:  # whatever the unpickler tripped on, say which file it was
            if "Weights only load failed" in str(e):
                raise UnsafeCheckpointError(
                    f"{filename} holds objects other than tensors and plain data: refusing to "
                    "unpickle it, since unpickling can run code. If you trust this file, load it "
                    "with allow_unsafe=True (tools: --allow-unsafe-checkpoint)."
                ) from e
            raise CheckpointReadError(
                f"{filename}: not a readable checkpoint (not one, or truncated): {e}"
            ) from e

    def _read(self, filename):
        """
        Read each file once, with our safe readers, then name its parts as detectron2's
        ``DetectionCheckpointer._load_file`` does for the format (``tests/test_checkpoint.py``
        checks that the results agree).
        """
        if filename.endswith(".pkl"):
            data = pickle_load(filename) if self.allow_unsafe else load_pickle(filename)
            if "model" in data and "__author__" in data:  # detectron2's model-zoo format
                return data
            # Caffe2 / Detectron1 weights: detection models keep theirs under "blobs".
            data = data.get("blobs", data)
            data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
            return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}
        loaded = self._torch_load(filename)
        if filename.endswith(".pyth"):  # pycls
            if "model_state" not in loaded:
                raise CheckpointReadError(f"{filename}: a .pyth file (pycls) without 'model_state'")
            model_state = {
                k: v
                for k, v in loaded["model_state"].items()
                if not k.endswith("num_batches_tracked")
            }
            return {"model": model_state, "__author__": "pycls", "matching_heuristics": True}
        return loaded if "model" in loaded else {"model": loaded}

    def _torch_load(self, filename):
        """``torch.load``, weights only unless ``allow_unsafe``, whatever torch's default is."""
        with PathManager.open(filename, "rb") as f:
            # torch.save writes a zip archive (or, before torch 1.6, a pickle). Anything else is no
            # checkpoint: torch's weights-only reader would report it as an unsafe pickle.
            if not f.read(2).startswith((b"PK", b"\x80")):
                raise CheckpointReadError(
                    f"{filename}: not a readable checkpoint (neither a zip archive nor a pickle, "
                    "as torch.save writes)"
                )
            f.seek(0)
            return torch.load(f, map_location="cpu", weights_only=not self.allow_unsafe)

    def save(self, name, **kwargs):
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        save_file = os.path.join(self.save_dir, f"{name}.pth")
        self.logger.info(f"Saving checkpoint to {save_file}")
        _atomic_write(save_file, lambda f: torch.save(data, f))
        self.tag_last_checkpoint(os.path.basename(save_file))

    def tag_last_checkpoint(self, last_filename_basename):
        path = os.path.join(self.save_dir, "last_checkpoint")
        _atomic_write(path, lambda f: f.write(last_filename_basename.encode()))


def _atomic_write(path, write):
    """Write through ``write(binary file)`` to a temporary file, then rename it to ``path``."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
