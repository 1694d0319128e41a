"""
Paired comparisons over seeds: the mean per-seed difference of a variant against its baseline,
its 95% confidence interval (Student's t over the seeds), and the smallest difference the setup
resolves given its spread. Standard library only.
"""

import math
import statistics

# Two-sided 95% quantiles of Student's t, t_{0.975}(df), for df = 1 ... 30.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip
_Z975 = 1.959964


def t_quantile_975(df):
    """t_{0.975} with ``df`` degrees of freedom: the table to 30, then the Cornish-Fisher
    expansion around the normal quantile (within 1e-3 of the exact value there)."""
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = _Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def paired_difference(baseline, variant):
    """
    Args:
        baseline, variant (list[float]): one value per seed, in the same seed order.
    Returns:
        dict: ``n``, ``mean`` and ``sd`` of variant - baseline over the seeds; with 2 seeds or
        more, ``ci`` (low, high) at 95%, ``half_width`` (the smallest |mean| this setup resolves
        with this spread) and ``resolved`` (the interval excludes 0); with one seed, those are
        None.
    """
    if len(baseline) != len(variant) or not baseline:
        raise ValueError(
            f"paired values need one per seed on both sides, got {len(baseline)} and {len(variant)}"
        )
    differences = [v - b for b, v in zip(baseline, variant)]
    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return dict(n=n, mean=mean, sd=None, ci=None, half_width=None, resolved=None)
    sd = statistics.stdev(differences)
    half_width = t_quantile_975(n - 1) * sd / math.sqrt(n)
    return dict(
        n=n,
        mean=mean,
        sd=sd,
        ci=(mean - half_width, mean + half_width),
        half_width=half_width,
        resolved=abs(mean) > half_width,
    )


# A relational run "learned" its relation when its label accuracy reaches this (percent): one
# definition for every page of docs/.
LEARNED_ACCURACY = 90.0


def wilson_interval(successes, n):
    """
    The 95% Wilson score interval of a proportion: (low, high) for ``successes`` of ``n``; it
    stays within [0, 1] and is not empty at 0 or n successes, where the normal one collapses.
    """
    if n < 1 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n and n >= 1, got {successes} of {n}")
    z = _Z975
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def learned_fraction(accuracies, threshold=LEARNED_ACCURACY):
    """The runs whose accuracy reaches ``threshold``: (count, n, Wilson 95% interval)."""
    count = sum(a >= threshold for a in accuracies)
    return count, len(accuracies), wilson_interval(count, len(accuracies))
