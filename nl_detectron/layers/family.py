"""
The non-local family behind one switch (``MODEL.NONLOCAL.BLOCK``): the NL block, the simplified
NL block (SNL) and the global context block (GC) of GCNet, and the disentangled NL block (DNL).
Which block reads which setting is ``settings.SETTINGS``'.
"""

from .context_block import GlobalContextBlock2d
from .disentangled_block import DisentangledNonLocalBlock2d
from .nonlocal_block import NonLocalBlock2d
from .settings import DEFAULTS, block_settings, check_setting


def build_block(in_channels, *, block="nonlocal", **settings):
    """
    A block of the family on ``in_channels`` channels, the identity at init (but GC with "mul"
    fusion).

    Args:
        block (str): one of ``BLOCKS``.
        settings: any of ``settings.SETTINGS``' names; those ``block`` does not read are ignored
            (``settings.check_settings`` refuses them when changed).
    """
    check_setting("block", block)
    values = {**DEFAULTS, **settings}
    if block == "simplified":
        return GlobalContextBlock2d(in_channels, transform="linear")
    if block == "gc":
        return GlobalContextBlock2d(
            in_channels, ratio=values["gc_ratio"], fusion=values["gc_fusion"]
        )
    if block == "disentangled":
        dnl = {n: values[n] for n in block_settings(block) if n != "dnl_temperature"}
        return DisentangledNonLocalBlock2d(
            in_channels, temperature=values["dnl_temperature"], **dnl
        )
    return NonLocalBlock2d(in_channels, **{n: values[n] for n in block_settings(block)})
