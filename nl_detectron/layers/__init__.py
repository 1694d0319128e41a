from .attention import Attention, AttentionBlock
from .context_block import GlobalContextBlock2d
from .disentangled_block import DisentangledNonLocalBlock2d
from .family import build_block
from .nonlocal_block import NonLocalBlock2d
from .nonlocal_ops import nonlocal_bounded, nonlocal_naive, pairwise_weights
from .settings import BLOCKS, MODES, SETTINGS, check_settings

__all__ = [
    "Attention",
    "AttentionBlock",
    "BLOCKS",
    "build_block",
    "DisentangledNonLocalBlock2d",
    "GlobalContextBlock2d",
    "MODES",
    "NonLocalBlock2d",
    "nonlocal_bounded",
    "nonlocal_naive",
    "pairwise_weights",
    "SETTINGS",
    "check_settings",
]
