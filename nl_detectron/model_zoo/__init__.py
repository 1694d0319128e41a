"""
nl_detectron's configs, shipped with the package, read as ``detectron2.model_zoo`` reads
detectron2's:

    from nl_detectron import model_zoo

    path = model_zoo.get_config_file("mask_rcnn_R50_NL.yaml")   # the installed file
    cfg = model_zoo.get_config("mask_rcnn_R50_NL.yaml")         # CfgNode, MODEL.NONLOCAL added
    model = model_zoo.get("demo/mask_rcnn_R18_NL_fast.yaml")    # the built model
    twin = model_zoo.baseline_twin_of("mask_rcnn_R50_NL.yaml")  # what compare_twins compares

A path is relative to the repository's ``configs/`` folder: ``mask_rcnn_R50_NL.yaml``,
``demo/mask_rcnn_R18_NL_fast.yaml``, ``lazy/mask_rcnn_R50_NL_100ep_LSJ.py``. A wheel holds a copy
of that folder in ``nl_detectron/model_zoo/configs`` (setup.py puts it there when it builds);
a checkout reads ``configs/`` itself, so there is one copy in the repository.
"""

import difflib
import os

from ..config import load_any_config

_HERE = os.path.dirname(os.path.abspath(__file__))
PACKAGED = os.path.join(_HERE, "configs")
CHECKOUT = os.path.join(os.path.dirname(os.path.dirname(_HERE)), "configs")
CONFIG_SUFFIXES = (".yaml", ".py")


def configs_root():
    """The folder of the configs: the package's copy, or the checkout's ``configs/``."""
    for root in (PACKAGED, CHECKOUT):
        if os.path.isdir(root):
            return root
    raise FileNotFoundError(
        f"nl_detectron's configs are neither in the package ({PACKAGED}) nor in a checkout: "
        "reinstall nl_detectron (pip install .) so that the wheel holds them"
    )


def list_configs():
    """Every config path ``get_config_file`` takes, sorted: YAML and Python configs."""
    root = configs_root()
    paths = []
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(CONFIG_SUFFIXES) and name != "__init__.py":
                paths.append(os.path.relpath(os.path.join(folder, name), root))
    return sorted(p.replace(os.sep, "/") for p in paths)


def get_config_file(config_path):
    """
    Args:
        config_path (str): relative to ``configs/``, e.g. "mask_rcnn_R50_NL.yaml".
    Returns:
        str: the absolute path of the installed file.
    Raises:
        FileNotFoundError: no such config, naming the closest ones.
    """
    known = list_configs()
    if not isinstance(config_path, str):
        raise TypeError(f"config_path must be a str such as {known[0]!r}, got {config_path!r}")
    # Only the shipped configs: a path that leaves configs/ ("../setup.py") is not one.
    if config_path not in known:
        close = difflib.get_close_matches(config_path, known, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise FileNotFoundError(
            f"{config_path!r} is not a config of nl_detectron's model zoo{hint} "
            f"(nl_detectron.model_zoo.list_configs() lists all {len(known)})"
        )
    return os.path.join(configs_root(), config_path)


def get_config(config_path, trained=False):
    """
    The config of ``config_path``: a ``CfgNode`` (detectron2's defaults, ``MODEL.NONLOCAL``, the
    file, its ``_BASE_`` chain) for a YAML config, a LazyConfig for a ``.py`` one.

    Args:
        trained (bool): the config with trained weights. No trained nl_detectron weights are
            published yet: True raises, rather than give a model that looks trained and is not.
    """
    if trained:
        raise ValueError(
            f"no trained weights of {config_path} are published: nl_detectron's model zoo has "
            "configs only (docs/model_zoo.md). Train it (tools/train_net.py), or fine-tune from a "
            "detectron2 baseline with MODEL.WEIGHTS (docs/training.md)"
        )
    return load_any_config(get_config_file(config_path))


def get(config_path, trained=False, device=None):
    """
    The model of ``config_path``, built, on ``device`` (default: the config's, or the CPU where
    CUDA is absent), with the config's weights loaded (``MODEL.WEIGHTS``, or
    ``train.init_checkpoint``: none in the demo configs, ImageNet weights from detectron2's zoo
    in the COCO ones).
    """
    import torch

    from detectron2.config import instantiate
    from detectron2.modeling import build_model

    from ..checkpoint import SafeCheckpointer
    from ..config import is_lazy

    cfg = get_config(config_path, trained)
    if is_lazy(cfg):
        device = device or cfg.train.get("device", "cuda")
        device = device if torch.cuda.is_available() else "cpu"
        model = instantiate(cfg.model).to(device)
        weights = cfg.train.get("init_checkpoint", "")
    else:
        cfg.defrost()
        cfg.MODEL.DEVICE = device or cfg.MODEL.DEVICE
        if not torch.cuda.is_available():
            cfg.MODEL.DEVICE = "cpu"
        model = build_model(cfg)
        weights = cfg.MODEL.WEIGHTS
    SafeCheckpointer(model).load(weights)
    return model


def baseline_twin_of(config_path):
    """The baseline twin of an NL config (``twins.baseline_twin``): the same config with
    detectron2's own backbone and keypoint head, what ``compare_twins`` compares it with."""
    from ..twins import twin_configs

    return twin_configs(get_config(config_path))["baseline"]
