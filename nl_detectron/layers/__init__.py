from .nonlocal_block import NonLocalBlock2d
from .nonlocal_ops import MODES, nonlocal_bounded, nonlocal_naive, pairwise_weights

__all__ = ["NonLocalBlock2d", "MODES", "nonlocal_bounded", "nonlocal_naive", "pairwise_weights"]
