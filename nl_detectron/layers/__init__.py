from .context_block import GlobalContextBlock2d
from .disentangled_block import DisentangledNonLocalBlock2d
from .family import build_block
from .nonlocal_block import NonLocalBlock2d
from .nonlocal_ops import nonlocal_bounded, nonlocal_naive, pairwise_weights
from .settings import BLOCKS, MODES, SETTINGS, check_settings

# Every block of the family: what attention statistics, viewers and captures look for.
NONLOCAL_FAMILY = (NonLocalBlock2d, GlobalContextBlock2d)

__all__ = [
    "BLOCKS",
    "build_block",
    "DisentangledNonLocalBlock2d",
    "GlobalContextBlock2d",
    "MODES",
    "NONLOCAL_FAMILY",
    "NonLocalBlock2d",
    "nonlocal_bounded",
    "nonlocal_naive",
    "pairwise_weights",
    "SETTINGS",
    "check_settings",
]
