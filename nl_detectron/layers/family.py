"""
The non-local family behind one switch (``MODEL.NONLOCAL.BLOCK``): the NL block, the simplified
NL block (SNL) and the global context block (GC) of GCNet, and the disentangled NL block (DNL).
Which block reads which setting is ``settings.SETTINGS``'.
"""

from .context_block import GlobalContextBlock2d
from .disentangled_block import DisentangledNonLocalBlock2d
from .nonlocal_block import NonLocalBlock2d
from .settings import block_settings, check_settings


def _nonlocal(in_channels, values):
    return NonLocalBlock2d(in_channels, **{n: values[n] for n in block_settings("nonlocal")})


def _simplified(in_channels, values):
    return GlobalContextBlock2d(in_channels, transform="linear")


def _gc(in_channels, values):
    return GlobalContextBlock2d(in_channels, ratio=values["gc_ratio"], fusion=values["gc_fusion"])


def _disentangled(in_channels, values):
    kwargs = {n: values[n] for n in block_settings("disentangled") if n != "dnl_temperature"}
    return DisentangledNonLocalBlock2d(in_channels, temperature=values["dnl_temperature"], **kwargs)


# block name -> (in_channels, checked settings) -> the block; one entry for each of
# settings.BLOCKS (tests/layers/test_family.py holds them equal).
BUILDERS = {
    "nonlocal": _nonlocal,
    "simplified": _simplified,
    "gc": _gc,
    "disentangled": _disentangled,
}


def build_block(in_channels, *, block="nonlocal", **settings):
    """
    A block of the family on ``in_channels`` channels, the identity at init (but GC with "mul"
    fusion).

    Args:
        block (str): one of ``BLOCKS``.
        settings: any of ``settings.SETTINGS``' names, checked by ``settings.check_settings``:
            an unknown name, a refused value, or a setting changed from its default that
            ``block`` does not read fails, naming it.
    """
    values = check_settings(block=block, **settings)
    return BUILDERS[block](in_channels, values)
