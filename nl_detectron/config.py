"""``cfg.MODEL.NONLOCAL``, and loading a config file with errors that name what is wrong."""

import difflib
import logging
import re

import torch
from omegaconf import DictConfig

from detectron2.config import CfgNode as CN
from detectron2.config import LazyConfig, get_cfg
from detectron2.evaluation import COCOEvaluator

from .layers import SETTINGS
from .modeling import NL_BACKBONES, NL_KEYPOINT_HEADS
from .utils.compat import has_fast_coco_eval

logger = logging.getLogger(__name__)


def add_nonlocal_config(cfg):
    """
    Add the ``MODEL.NONLOCAL`` keys, and the ``DDP`` keys our Trainer reads, to ``cfg`` in place
    (a detectron2 ``CfgNode`` from ``get_cfg()``). detectron2's global defaults are not changed.

    The keys are read only by nl_detectron's registered backbones (``*_nl_backbone``); their
    defaults are the paper's COCO setting, so switching ``MODEL.BACKBONE.NAME`` alone gives it.
    """
    cfg.MODEL.NONLOCAL = CN()
    # The block settings (BLOCK, MODE, NORM, ...): each one's default, check, meaning and the
    # blocks that read it are described once, in nl_detectron/layers/settings.py (README's table
    # of keys is made from it).
    for setting in SETTINGS:
        cfg.MODEL.NONLOCAL[setting.key] = setting.default
    # Per ResNet stage, the indices of the residual blocks that get an NL block right after them.
    # Negative indices count from the end of the stage. The paper's COCO setting: one block right
    # before the last residual block of res4, i.e. after block -2. Its 5-block variant (3 in
    # res4, 2 in res3, on alternate blocks): RES3: [1, 3], RES4: [1, 3, 5].
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS = CN()
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES2 = []
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES3 = []
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES4 = [-2]
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES5 = []
    # For ROI_KEYPOINT_HEAD.NAME "KRCNNConvDeconvUpsampleNLHead": the 1-based indices k of the
    # head's convs (conv_fcn{k}) that get an NL block after them. The paper's Table 6: 4 blocks in
    # the 8-conv head, one after every 2 convs. The other MODEL.NONLOCAL keys apply there too.
    cfg.MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS = [2, 4, 6, 8]

    # Statistics of every NL block's norm input, gradients and attention, put into metrics.json
    # every PERIOD training iterations (nl_detectron/engine/diagnostics.py); 0: off. The writers
    # keep the latest value of each iteration they write (every 20): use a multiple of 20.
    cfg.NL_DIAGNOSTICS = CN()
    cfg.NL_DIAGNOSTICS.PERIOD = 0

    # DistributedDataParallel settings of nl_detectron's Trainer (more than one process), as the
    # train.ddp of detectron2's LazyConfig recipes; its DefaultTrainer has no such keys.
    cfg.DDP = CN()
    # Let DDP find the parameters a training step leaves without gradient (slower: it walks the
    # graph each step). No head in configs/ leaves one (tests/engine/test_distributed.py).
    cfg.DDP.FIND_UNUSED_PARAMETERS = False
    # Send the main process's buffers to every rank before each forward (detectron2: False).
    cfg.DDP.BROADCAST_BUFFERS = False
    # Send gradients in fp16 between processes: half the traffic, for multi-machine runs.
    cfg.DDP.FP16_COMPRESSION = False
    # Minutes a process waits for the others, at start-up and on each collective, before it
    # fails: bounds the wait where a process of another machine is lost and the transport does
    # not say so. torch's default, 30.
    cfg.DDP.TIMEOUT_MINUTES = 30.0


def load_config(config_file, opts=()):
    """
    A config ready to freeze: detectron2's defaults, ``MODEL.NONLOCAL``, the file, then ``opts``
    (``[KEY, VALUE, ...]``). A CUDA device asked for where there is none falls back to the CPU.
    """
    if is_lazy_file(config_file):
        raise ValueError(
            f"{config_file} is a Python (LazyConfig) config: train and evaluate it with "
            "tools/lazyconfig_train_net.py. train_net.py takes YAML configs (docs/lazyconfig.md)."
        )
    cfg = get_cfg()
    add_nonlocal_config(cfg)
    _merge_config(cfg, config_file, opts)
    check_nonlocal_keys_are_used(cfg)
    if cfg.MODEL.DEVICE.startswith("cuda") and not torch.cuda.is_available():
        logger.warning(f"MODEL.DEVICE = {cfg.MODEL.DEVICE!r} but CUDA is not available; using cpu")
        cfg.MODEL.DEVICE = "cpu"
    return cfg


def load_lazy_config(config_file, opts=()):
    """
    A Python config with ``opts`` (``key=value`` overrides, as detectron2's tool takes them)
    applied. ``train.device`` "cuda" where there is none falls back to the CPU, and a
    ``COCOEvaluator`` uses pycocotools where detectron2's C++ evaluator is absent.
    """
    cfg = LazyConfig.apply_overrides(LazyConfig.load(config_file), list(opts))
    if str(cfg.train.device).startswith("cuda") and not torch.cuda.is_available():
        logger.warning(f"train.device = {cfg.train.device!r} but CUDA is not available; using cpu")
        cfg.train.device = "cpu"
    evaluator = cfg.dataloader.get("evaluator")
    if evaluator is not None and evaluator.get("_target_") is COCOEvaluator:
        evaluator.use_fast_impl = (
            bool(evaluator.get("use_fast_impl", True)) and has_fast_coco_eval()
        )
    return cfg


def load_any_config(config_file, opts=()):
    """
    The config of a file, by its suffix: a Python (LazyConfig) config with ``key=value``
    overrides (``load_lazy_config``), or a YAML one with ``KEY VALUE`` overrides
    (``load_config``).
    """
    if is_lazy_file(config_file):
        return load_lazy_config(config_file, opts)
    return load_config(config_file, opts)


def cpu_overrides(config_file):
    """The overrides that put the model of ``config_file`` (YAML or Python) on the CPU."""
    return ["train.device=cpu"] if is_lazy_file(config_file) else ["MODEL.DEVICE", "cpu"]


def is_lazy_file(config_file):
    """Whether ``config_file`` is a Python (LazyConfig) config: by its suffix, as detectron2's."""
    return str(config_file).endswith(".py")


def is_lazy(cfg):
    """Whether ``cfg`` is a Python (LazyConfig) config rather than a yacs ``CfgNode``."""
    return isinstance(cfg, DictConfig)


def _merge_config(cfg, source, opts=()):
    """
    ``cfg.merge_from_file(source)`` then ``cfg.merge_from_list(opts)``, where an unknown key
    fails with its name, the closest valid key and the valid keys beside it (yacs only names it).
    """
    for what, merge in (
        (source, lambda: cfg.merge_from_file(source)),
        ("the command line", lambda: cfg.merge_from_list(list(opts))),
    ):
        try:
            merge()
        except (KeyError, AssertionError) as e:
            match = re.search(r"Non-existent (?:config )?key: (\S+)", str(e))
            if not match:
                raise
            raise KeyError(_unknown_key_message(cfg, match.group(1), what)) from None


def _unknown_key_message(cfg, full_key, source):
    parent_key, _, name = full_key.rpartition(".")
    node = cfg
    for part in parent_key.split(".") if parent_key else []:
        node = node[part]
    valid = sorted(node.keys())
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f"; did you mean {parent_key + '.' if parent_key else ''}{close[0]}?" if close else ""
    return (
        f"{source}: unknown config key {full_key}{hint} Valid keys under "
        f"{parent_key or 'the root'}: {', '.join(valid)}"
    )


def check_nonlocal_keys_are_used(cfg):
    """
    Refuse each ``MODEL.NONLOCAL`` value changed from its default that nothing the model builds
    reads, so a config that believes it has a block fails instead of silently training
    without: ``AFTER_BLOCKS`` is read by the NL backbones, ``KEYPOINT_HEAD_AFTER_CONVS`` by the
    NL keypoint heads (with ``MODEL.KEYPOINT_ON``), the block settings by either.
    """
    defaults = get_cfg()
    add_nonlocal_config(defaults)
    nl_backbone = cfg.MODEL.BACKBONE.NAME in NL_BACKBONES
    nl_head = cfg.MODEL.KEYPOINT_ON and cfg.MODEL.ROI_KEYPOINT_HEAD.NAME in NL_KEYPOINT_HEADS
    nl_names = [nl for nl, base in NL_BACKBONES.items() if base == cfg.MODEL.BACKBONE.NAME]
    backbone = f"MODEL.BACKBONE.NAME = {cfg.MODEL.BACKBONE.NAME!r}" + (
        f" (its NL version: {nl_names[0]!r})" if nl_names else ""
    )
    head = (
        f"MODEL.ROI_KEYPOINT_HEAD.NAME = {cfg.MODEL.ROI_KEYPOINT_HEAD.NAME!r}"
        if cfg.MODEL.KEYPOINT_ON
        else "MODEL.KEYPOINT_ON = False"
    )
    groups = (
        ("AFTER_BLOCKS", nl_backbone, f"{backbone} builds no non-local block"),
        (
            "KEYPOINT_HEAD_AFTER_CONVS",
            nl_head,
            f"{head} builds no non-local keypoint head ({', '.join(NL_KEYPOINT_HEADS)})",
        ),
        (
            "",
            nl_backbone or nl_head,
            f"{backbone} and {head} build no non-local block; NL backbones: "
            f"{', '.join(NL_BACKBONES)}",
        ),
    )
    changed = _changed_keys(cfg.MODEL.NONLOCAL, defaults.MODEL.NONLOCAL, "MODEL.NONLOCAL")
    unread = {}  # a group's reason -> its changed keys that nothing reads
    for key, value in changed:
        # the first group whose prefix the key has ("" last: every other key)
        read, why = next((r, w) for p, r, w in groups if key.startswith(f"MODEL.NONLOCAL.{p}"))
        if not read:
            unread.setdefault(why, []).append(f"{key} = {value!r}")
    for _, _, why in groups:
        if why in unread:
            raise ValueError(f"{', '.join(unread[why])} set, but {why}")


def _changed_keys(node, default, prefix):
    changed = []
    for key, value in node.items():
        if isinstance(value, CN):
            changed += _changed_keys(value, default[key], f"{prefix}.{key}")
        elif value != default[key]:
            changed.append((f"{prefix}.{key}", value))
    return changed
