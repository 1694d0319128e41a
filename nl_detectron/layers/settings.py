"""
The block settings of the non-local family, each described once: its name, default, check,
meaning and which blocks read it. Everything else is derived from ``SETTINGS``: the
``MODEL.NONLOCAL`` keys (the upper-case names) and their defaults (``config.py``), the checks
with their messages for YAML and Python configs (``check_settings``), the refusal of a changed
setting that the chosen block does not read, the keyword arguments of ``nonlocal_resnet``, and
the table of keys in docs/config.md (``settings_markdown``, tested against it).

A new setting is one ``Setting`` here plus the block argument that takes it; a new block is one
module plus its name in the ``blocks`` of the settings it reads (docs/family.md, "Adding a
block").
"""

import difflib
import math
from dataclasses import dataclass
from typing import Callable, Optional

from detectron2.layers import get_norm

BLOCKS = ("nonlocal", "simplified", "gc", "disentangled")
# The blocks that compute a pairwise (query-by-key) term with theta, phi and g.
PAIRWISE = ("nonlocal", "disentangled")
# The pairwise functions f of the NL block.
MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")
SOFTMAX_MODES = ("embedded_gaussian", "gaussian")
IMPLS = ("bounded", "naive")
# Where the 2x2 max-pool of the phi and g paths goes: "input" pools x before the phi and g convs
# (the official code, facebookresearch/video-nonlocal-net lib/models/nonlocal_helper.py, and the
# paper's y_i = 1/C(x^) sum_j f(x_i, x^_j) g(x^_j)); "embedding" pools phi(x) and g(x) (mmcv's
# NonLocal2d and AlexHex7's Non-local_pytorch), for weights trained there.
SUB_SAMPLE_AT = ("input", "embedding")
# How GC's context term t joins x: "add" (z = x + t, GCNet's default and the only fusion that
# starts as the identity) or "mul" (z = x * sigmoid(t), mmcv's channel_mul: x / 2 at init).
FUSIONS = ("add", "mul")
NORMS = ("BN", "SyncBN", "GN", "FrozenBN", "naiveSyncBN", "nnSyncBN")
# Where the norm goes: "out" normalises W_z y (the paper's and the official code's
# z = norm(W_z y) + x); "y" normalises y before W_z (z = W_z norm(y) + x), so that W_z, starting
# at zero, gets a gradient of unit-variance inputs and the term grows from zero with W_z.
NORM_AT = ("out", "y")


def one_of(choices):
    def check(value):
        if value not in choices:
            return f"is not one of {', '.join(choices)}"

    return check


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def positive_int_or_none(value):
    if value is not None and not (_is_int(value) and value > 0):
        return "must be None (half of the input channels) or a positive int"


def int_at_least_one(value):
    if not (_is_int(value) and value >= 1):
        return "must be an int of 1 or more (C / r channels)"


def positive_number(value):
    if not (_is_number(value) and math.isfinite(value) and value > 0):
        return "must be a finite number above 0"


def finite_number(value):
    if not (_is_number(value) and math.isfinite(value)):
        return "must be a finite number"


def boolean(value):
    if not isinstance(value, bool):
        return "must be True or False"


def detectron2_norm(value):
    if value == "":
        return None
    try:
        if not isinstance(value, str):
            raise KeyError(value)
        get_norm(value, 32)
    except (KeyError, ValueError):
        return f"is not a detectron2 norm; valid: '' (none), {', '.join(map(repr, NORMS))}"


@dataclass(frozen=True)
class Setting:
    """
    One block setting: ``name`` is the block argument (``nonlocal_resnet``'s keyword), its
    config key is ``MODEL.NONLOCAL.<NAME>``; ``check(value)`` returns None or the reason the
    value is refused ("must be ..."); ``blocks`` are the blocks that read it.
    """

    name: str
    default: object
    blocks: tuple
    check: Callable[[object], Optional[str]]
    doc: str

    @property
    def key(self):
        return self.name.upper()


SETTINGS = (
    Setting(
        "block",
        "nonlocal",
        BLOCKS,
        one_of(BLOCKS),
        "the block of the family: `nonlocal`, `simplified` (SNL), `gc` (GC block), "
        "`disentangled` (DNL) ([the family](family.md))",
    ),
    Setting(
        "mode",
        "embedded_gaussian",
        PAIRWISE,
        one_of(MODES),
        "pairwise function: `embedded_gaussian`, `gaussian`, `dot_product`, `concatenation` "
        "(`disentangled`: `embedded_gaussian` only)",
    ),
    Setting(
        "inter_channels",
        None,
        PAIRWISE,
        positive_int_or_none,
        "channels of theta, phi, g; `None` is half the input channels",
    ),
    Setting(
        "sub_sample",
        True,
        PAIRWISE,
        boolean,
        "2x2 max-pool of the positions j (sides of 2 or more)",
    ),
    Setting(
        "sub_sample_at",
        "input",
        PAIRWISE,
        one_of(SUB_SAMPLE_AT),
        "`input`: pool x, then the phi and g convs (official code); `embedding`: pool phi(x) "
        "and g(x) (mmcv)",
    ),
    Setting(
        "norm",
        "BN",
        PAIRWISE,
        detectron2_norm,
        'norm after W_z, as the official code (`""`: none, W_z zero instead); the COCO configs '
        "use `SyncBN` for their 2 images per GPU "
        "([which norm](block.md#the-norm-and-its-initial-scale))",
    ),
    Setting(
        "norm_at",
        "out",
        PAIRWISE,
        one_of(NORM_AT),
        "`out`: z = norm(W_z y) + x (the paper's); `y`: z = W_z norm(y) + x, W_z starting at zero "
        "([which init](block.md#the-norm-and-its-initial-scale))",
    ),
    Setting(
        "norm_init_scale",
        0.0,
        PAIRWISE,
        finite_number,
        "initial scale of that norm: 0 (the official init) makes the inserted block grow from "
        "zero; not 0: W_z starts at zero instead, the block is still the identity at insertion "
        "but its term reaches the features' size within the warm-up, and learns sooner "
        "([what each costs](block.md#the-norm-and-its-initial-scale))",
    ),
    Setting(
        "init_std",
        0.01,
        PAIRWISE,
        positive_number,
        "std of the Gaussian init of theta, phi, g and W_z (official `CONV_INIT_STD`)",
    ),
    Setting(
        "use_scale",
        True,
        PAIRWISE,
        boolean,
        "logits times 1/sqrt(D) (official code); the 1/N modes ignore it",
    ),
    Setting(
        "logit_scale",
        1.0,
        ("nonlocal",),
        positive_number,
        "softmax modes only: a fixed factor on the logits besides 1/sqrt(D) (above 1: a sharper "
        "softmax)",
    ),
    Setting(
        "impl",
        "bounded",
        PAIRWISE,
        one_of(IMPLS),
        "`bounded` (no N x N matrix kept where the mode allows it) or `naive`",
    ),
    Setting(
        "gc_ratio",
        16,
        ("gc",),
        int_at_least_one,
        "`gc` only: bottleneck C/r",
    ),
    Setting(
        "gc_fusion",
        "add",
        ("gc",),
        one_of(FUSIONS),
        "`gc` only: `add` or `mul` fusion (`mul` is x / 2 at init, not the identity)",
    ),
    Setting(
        "dnl_temperature",
        0.05,
        ("disentangled",),
        positive_number,
        "`disentangled` only: temperature of the whitened pairwise softmax",
    ),
)
SETTINGS_BY_NAME = {s.name: s for s in SETTINGS}
DEFAULTS = {s.name: s.default for s in SETTINGS}


def check_setting(name, value, key=None):
    """Raise ValueError naming ``key`` (default: ``name``) and ``value`` if ``value`` is refused."""
    reason = SETTINGS_BY_NAME[name].check(value)
    if reason:
        raise ValueError(f"{key or name} = {value!r} {reason}")


def block_settings(block):
    """The names of the settings ``block`` reads, ``block`` itself aside."""
    return [s.name for s in SETTINGS if block in s.blocks and s.name != "block"]


def check_settings(*, key=str, **settings):
    """
    ``settings`` (any of ``SETTINGS``' names; the others take their defaults) checked, where a
    refused value fails with ``key(name)`` (the name the user wrote it under), the value and the
    reason. A setting changed from its default that the chosen block does not read is refused,
    naming the block and what it reads.

    Returns:
        dict: every setting's value, ``build_block``'s keyword arguments.
    """
    unknown = sorted(set(settings) - set(DEFAULTS))
    if unknown:
        close = difflib.get_close_matches(unknown[0], DEFAULTS, n=1)
        hint = f"; did you mean {key(close[0])}?" if close else ""
        raise TypeError(
            f"unknown block setting {', '.join(key(n) for n in unknown)}{hint} Valid: "
            f"{', '.join(key(n) for n in DEFAULTS)}"
        )
    values = {**DEFAULTS, **settings}
    for name, value in values.items():
        check_setting(name, value, key(name))
    block = values["block"]
    reads = block_settings(block)
    unread = [
        name
        for name in settings
        if name != "block" and name not in reads and values[name] != DEFAULTS[name]
    ]
    if unread:
        raise ValueError(
            f"{', '.join(f'{key(n)} = {values[n]!r}' for n in unread)} set, but {key('block')} = "
            f"{block!r} does not read it; that block reads "
            f"{', '.join(key(n) for n in reads) or 'no other setting'}"
        )
    if block == "disentangled" and values["mode"] != "embedded_gaussian":
        raise ValueError(
            f"{key('mode')} = {values['mode']!r}, but {key('block')} = 'disentangled' whitens an "
            "embedded_gaussian pairwise term; leave the mode at 'embedded_gaussian'"
        )
    check_norm_init_scale(values["norm"], values["norm_init_scale"], key)
    check_norm_at(values["norm"], values["norm_at"], values["norm_init_scale"], key)
    check_logit_scale(values["mode"], values["logit_scale"], key)
    return values


def check_norm_init_scale(norm, norm_init_scale, key=str):
    """A non-zero initial scale needs a norm with a trainable scale."""
    if norm_init_scale != 0 and norm in ("", "FrozenBN"):
        raise ValueError(
            f"{key('norm_init_scale')} = {norm_init_scale!r}, but {key('norm')} = {norm!r} has "
            "no trainable scale to start there"
        )


def check_norm_at(norm, norm_at, norm_init_scale, key=str):
    """A norm before W_z needs a norm, and a scale that passes y on: W_z starts at zero, and a
    zero scale too would leave every parameter of the block without a gradient."""
    if norm_at == "y" and (norm in ("", "FrozenBN") or norm_init_scale == 0):
        raise ValueError(
            f"{key('norm_at')} = 'y' needs a trainable norm with a non-zero initial scale (W_z "
            f"starts at zero), but {key('norm')} = {norm!r} and {key('norm_init_scale')} = "
            f"{norm_init_scale!r}"
        )


def check_logit_scale(mode, logit_scale, key=str):
    """A logit factor other than 1 needs a softmax mode: the 1/N modes have no logits."""
    if logit_scale != 1 and mode not in SOFTMAX_MODES:
        raise ValueError(
            f"{key('logit_scale')} = {logit_scale!r}, but {key('mode')} = {mode!r} is not a "
            f"softmax mode ({', '.join(SOFTMAX_MODES)})"
        )


def settings_markdown():
    """The table of ``MODEL.NONLOCAL`` block settings in docs/config.md: key, default, meaning."""
    rows = ["| key (`MODEL.NONLOCAL.`) | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = f'`"{s.default}"`' if isinstance(s.default, str) else f"`{s.default}`"
        rows.append(f"| `{s.key}` | {default} | {s.doc} |")
    return "\n".join(rows)
