"""tools/compare_twins.py: an NL config against its baseline twin, run as a user runs it."""

import pytest

from nl_detectron.twins.compare import (
    mean_and_spread,
    parse_variants,
    twins_markdown,
    write_variant_configs,
)
from nl_detectron.twins.configs import twin_configs
from nl_detectron.twins.stats import (
    learned_fraction,
    paired_difference,
    t_quantile_975,
    wilson_interval,
)
from tests.helpers import (
    DEMO_CONFIG,
    SMALL_IMAGES,
    command_line,
    small_cfg,
)


def test_twin_configs_differ_only_in_the_backbone_and_nl_keys():
    cfg = small_cfg("MODEL.NONLOCAL.MODE", "gaussian")
    twins = twin_configs(cfg)
    assert twins["NL"] is cfg
    assert twins["baseline"].MODEL.BACKBONE.NAME == "build_resnet_fpn_backbone"
    assert twins["baseline"].MODEL.NONLOCAL.MODE == "embedded_gaussian"  # reset to the default
    with pytest.raises(ValueError, match="build no NL block"):
        twin_configs(twins["baseline"])


def test_mean_spread_and_a_table_without_flops():
    assert mean_and_spread([1.0, 3.0]) == (2.0, pytest.approx(2**0.5))
    table = {"baseline": {"bbox/AP": [70.0, 68.0]}, "NL": {"bbox/AP": [62.0, 71.0]}}
    markdown = twins_markdown(table, [1, 2], {"error": "trace failed"}, "title")
    # differences -8 and +3: mean -2.5, sd 7.8, t(1) = 12.706, half-width 12.706 * 7.78 / sqrt 2
    assert "| bbox/AP | baseline | 69.0 ± 1.4 |" in markdown
    assert (
        "| bbox/AP | NL | 66.5 ± 6.4 | -2.5 ± 7.8 | [-72.4, +67.4] | no | 69.9 | 62.0, 71.0 |"
        in markdown
    )
    assert "not counted: trace failed" in markdown
    assert "learned" not in markdown  # no relation, no learned fraction


def test_a_relation_table_counts_the_runs_that_learned():
    table = {
        "baseline": {"relation/accuracy": [72.3, 52.8, 95.0]},
        "NL": {"relation/accuracy": [100.0, 90.0, 51.1]},
    }
    markdown = twins_markdown(table, [1, 2, 3], {"error": "-"}, "title")
    low, high = wilson_interval(1, 3)
    assert f"| baseline | 1 of 3 | [{low:.2f}, {high:.2f}] |" in markdown
    low, high = wilson_interval(2, 3)
    assert f"| NL | 2 of 3 | [{low:.2f}, {high:.2f}] |" in markdown


def test_paired_difference_against_a_known_t_interval():
    baseline = [70.1, 68.3, 71.0, 69.5, 70.2, 68.8, 69.9, 70.4]
    steady = [1.2, 0.8, 1.5, 0.9, 1.1, 1.4, 0.7, 1.0]
    diff = paired_difference(baseline, [b + d for b, d in zip(baseline, steady)])
    # scipy.stats.t.interval(0.95, 7, loc=mean, scale=sem) of these differences
    assert diff["ci"] == pytest.approx((0.839596, 1.310404), abs=1e-3)
    assert diff["resolved"] and diff["half_width"] == pytest.approx(0.235404, abs=1e-3)
    noisy = [3, -4, 5, -2, 1, -3, 2, -1]
    noisy = paired_difference(baseline, [b + d for b, d in zip(baseline, noisy)])
    assert not noisy["resolved"] and noisy["ci"][0] < 0 < noisy["ci"][1]
    one = paired_difference([70.0], [72.0])
    assert one["mean"] == 2.0 and one["ci"] is None and one["resolved"] is None
    with pytest.raises(ValueError, match="one per seed on both sides"):
        paired_difference([1.0, 2.0], [1.0])


def test_t_quantile_matches_the_exact_values():
    # scipy.stats.t.ppf(0.975, df)
    exact = {1: 12.706205, 2: 4.302653, 7: 2.364624, 30: 2.042272, 31: 2.039513, 60: 2.000298}
    for df, value in {**exact, 1000: 1.962339}.items():
        assert t_quantile_975(df) == pytest.approx(value, abs=1e-3), df


def test_variants_parse_and_bad_names_are_named():
    assert parse_variants(None) == {"NL": []}
    assert parse_variants(
        [["official", ""], ["mmcv", "MODEL.NONLOCAL.SUB_SAMPLE_AT embedding"]]
    ) == {
        "official": [],
        "mmcv": ["MODEL.NONLOCAL.SUB_SAMPLE_AT", "embedding"],
    }
    with pytest.raises(ValueError, match="'baseline'"):
        parse_variants([["baseline", ""]])
    with pytest.raises(ValueError, match="given twice"):
        parse_variants([["a", ""], ["a", "SEED 2"]])


def test_variant_configs_and_a_changed_variant_is_refused(tmp_path):
    cfg = small_cfg()
    variants = {"official": [], "no_scale": ["MODEL.NONLOCAL.USE_SCALE", "False"]}
    opts = ["MODEL.DEVICE", "cpu", *command_line(SMALL_IMAGES)]
    paths = write_variant_configs(cfg, tmp_path, DEMO_CONFIG, opts, variants)
    assert list(paths) == ["baseline", "official", "no_scale"]
    assert "USE_SCALE: false" in (tmp_path / "no_scale.yaml").read_text()
    assert "USE_SCALE: true" in (tmp_path / "official.yaml").read_text()
    # The same command again reuses; another override under the same name is refused.
    write_variant_configs(cfg, tmp_path, DEMO_CONFIG, opts, variants)
    with pytest.raises(ValueError, match="no_scale"):
        write_variant_configs(
            cfg, tmp_path, DEMO_CONFIG, opts, {"no_scale": ["MODEL.NONLOCAL.MODE", "gaussian"]}
        )


def test_wilson_interval_known_values_and_edges():
    # Wilson's interval for 7 of 8: (0.529, 0.978); for 0 of 8: (0, 0.324)
    low, high = wilson_interval(7, 8)
    assert low == pytest.approx(0.5291, abs=1e-3) and high == pytest.approx(0.9776, abs=1e-3)
    assert wilson_interval(0, 8)[0] == 0 and wilson_interval(0, 8)[1] == pytest.approx(
        0.3244, abs=1e-3
    )
    assert wilson_interval(8, 8)[1] == 1
    assert learned_fraction([100.0, 89.9, 90.0, 51.0]) == (2, 4, wilson_interval(2, 4))
    with pytest.raises(ValueError, match="9 of 8"):
        wilson_interval(9, 8)
