"""
The twin experiments: an NL config against its baseline twin, trained with identical settings
over several seeds (``compare_twins``), the twin configs, their costs and the paired statistics.
"""

from .compare import compare_twins, parse_variants
from .configs import baseline_twin, lazy_baseline_twin, twin_configs
from .cost import compare_with_baseline
from .stats import paired_difference

__all__ = [
    "baseline_twin",
    "compare_twins",
    "compare_with_baseline",
    "lazy_baseline_twin",
    "paired_difference",
    "parse_variants",
    "twin_configs",
]
