"""
The non-local family behind one switch (``MODEL.NONLOCAL.BLOCK``): the NL block, the simplified
NL block (SNL) and the global context block (GC) of GCNet, and the disentangled NL block (DNL).
"""

from .context_block import GlobalContextBlock2d
from .disentangled_block import DisentangledNonLocalBlock2d
from .nonlocal_block import NonLocalBlock2d

BLOCKS = ("nonlocal", "simplified", "gc", "disentangled")
# The arguments of ``build_block`` each block reads, besides ``in_channels``, with their defaults
# (``MODEL.NONLOCAL``'s). A value changed from its default for a block that does not read it is
# refused by the config checks, so that a config never believes in a setting that does nothing.
NL_ARGUMENTS = {
    "inter_channels": None,
    "mode": "embedded_gaussian",
    "sub_sample": True,
    "sub_sample_at": "input",
    "norm": "GN",
    "use_scale": True,
    "impl": "bounded",
}
BLOCK_ARGUMENTS = {
    "nonlocal": NL_ARGUMENTS,
    "simplified": {},
    "gc": {"gc_ratio": 16, "gc_fusion": "add"},
    "disentangled": {**NL_ARGUMENTS, "dnl_temperature": 0.05},
}
ARGUMENT_DEFAULTS = {k: v for arguments in BLOCK_ARGUMENTS.values() for k, v in arguments.items()}


def build_block(in_channels, *, block="nonlocal", **kwargs):
    """
    A block of the family on ``in_channels`` channels, the identity at init (but GC with "mul"
    fusion).

    Args:
        block (str): one of ``BLOCKS``.
        kwargs: any of ``ARGUMENT_DEFAULTS``; those ``block`` does not read are ignored (the
            config checks refuse them when changed).
    """
    if block not in BLOCKS:
        raise ValueError(f"Unknown block {block!r}; valid: {', '.join(BLOCKS)}")
    args = {**ARGUMENT_DEFAULTS, **kwargs}
    nl = {k: args[k] for k in NL_ARGUMENTS}
    if block == "nonlocal":
        return NonLocalBlock2d(in_channels, **nl)
    if block == "disentangled":
        return DisentangledNonLocalBlock2d(in_channels, temperature=args["dnl_temperature"], **nl)
    if block == "simplified":
        return GlobalContextBlock2d(in_channels, transform="linear")
    return GlobalContextBlock2d(in_channels, ratio=args["gc_ratio"], fusion=args["gc_fusion"])
