from .context_block import GlobalContextBlock2d
from .disentangled_block import DisentangledNonLocalBlock2d
from .family import BLOCKS, build_block
from .nonlocal_block import NonLocalBlock2d
from .nonlocal_ops import MODES, nonlocal_bounded, nonlocal_naive, pairwise_weights

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
]
