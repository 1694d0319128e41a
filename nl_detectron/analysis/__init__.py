"""What a model costs and what its blocks learned: FLOP and parameter counts (fvcore, the NL
block's attention counted), the capture of the blocks' inputs, the size of the term each block adds,
and GCNet's attention statistics."""

from .attention_stats import STATISTICS, AttentionStatistics, statistics_markdown
from .block_term import relative_terms
from .capture import BlockCapture, family_blocks
from .flops import flop_count, model_flop_count, num_parameters

__all__ = [
    "AttentionStatistics",
    "BlockCapture",
    "family_blocks",
    "STATISTICS",
    "flop_count",
    "model_flop_count",
    "num_parameters",
    "relative_terms",
    "statistics_markdown",
]
