"""benchmarks/measure.py: the paired timing, its interval, and the exact peak memory."""

import pytest
import torch

from tests.helpers import load_script


@pytest.fixture(scope="module")
def measure():
    return load_script("benchmarks/measure.py")


def test_median_interval_is_the_sign_tests_order_statistics(measure):
    # n = 15: P(Binomial(15, 1/2) <= 3) = 0.018 <= 0.025 < P(<= 4) = 0.059, so x_(4) and x_(12)
    assert measure.median_ci(list(range(1, 16))) == (8, 4, 12)
    # n = 6 is the fewest with a 95% interval: the extremes
    assert measure.median_ci([3, 1, 2, 6, 5, 4]) == (3.5, 1, 6)
    with pytest.raises(ValueError, match="5 values are too few"):
        measure.median_ci([1, 2, 3, 4, 5])


def test_verdict_says_where_the_interval_lies(measure):
    assert measure.verdict(1.02, 1.3) == "above"
    assert measure.verdict(0.97, 1.1) == "tie"
    assert measure.verdict(0.7, 0.9) == "below"


def test_paired_timing_alternates_the_order_and_pairs_the_ratios(measure, monkeypatch):
    calls = []
    now = {"t": 0.0}  # a fake clock: "a" takes 1 s, "b" 2 s

    def fake_seconds(fn, device):
        start = now["t"]
        fn()
        return now["t"] - start

    def a():
        calls.append("a")
        now["t"] += 1

    def b():
        calls.append("b")
        now["t"] += 2

    monkeypatch.setattr(measure, "seconds", fake_seconds)
    result = measure.paired_ratio(a, b, "cpu", pairs=6, warmup=1)
    assert calls == ["a", "b"] + ["a", "b", "b", "a"] * 3
    assert result["ratios"] == [2.0] * 6
    assert (result["ratio"], result["low"], result["high"]) == (2.0, 2.0, 2.0)
    assert (result["a_s"], result["b_s"]) == (1.0, 2.0)


def test_peak_live_bytes_of_a_known_pass(measure):
    assert measure.peak_live_bytes(lambda: torch.empty(1 << 20)) == 4 << 20

    def two_alive_then_one():
        a = torch.empty(1 << 20)
        b = torch.empty(1 << 18)
        del a
        return torch.empty(1 << 19), b

    # a and b alive at once (5 MiB) is the peak; b and the last (3 MiB) never exceed it
    assert measure.peak_live_bytes(two_alive_then_one) == 5 << 20
    # the same on every run
    block = torch.nn.Conv2d(64, 32, 1)
    x = torch.randn(2, 64, 20, 20)
    readings = {measure.peak_live_bytes(lambda: block(x).sum()) for _ in range(3)}
    assert len(readings) == 1 and readings.pop() > 0


def test_limit_benchmark_assigns_each_op_to_one_part_of_the_block():
    limit = load_script("benchmarks/bench_limit.py")
    assert limit.part_of("aten::mkldnn_convolution") == limit.part_of("aten::_slow_conv2d_forward")
    assert limit.part_of("aten::_slow_conv2d_forward").startswith("1x1 convs")
    flash = "aten::_scaled_dot_product_flash_attention_for_cpu"
    assert limit.part_of(flash) == "pairwise operation"
    assert limit.part_of("aten::max_pool2d_with_indices") == "max pooling"
    assert limit.part_of("aten::native_group_norm") == limit.REST


def test_training_steps_of_the_twins_read_the_same_batches():
    """bench_train: each model reads its own pass over one list of batches, and steps its
    optimizer once per call."""
    bench_train = load_script("benchmarks/bench_train.py")
    batches = [torch.full((1,), float(i)) for i in range(3)]
    seen = {"a": [], "b": []}
    steps = {}
    for name in seen:
        weight = torch.nn.Parameter(torch.ones(1))
        optimizer = torch.optim.SGD([weight], lr=1.0)

        def model(batch, name=name, weight=weight):
            seen[name].append(batch.item())
            return {"loss": (weight * batch).sum()}

        steps[name] = (weight, bench_train.training_step(model, optimizer, iter(batches)))
    for _ in batches:
        steps["a"][1]()
        steps["b"][1]()
    assert seen == {"a": [0.0, 1.0, 2.0], "b": [0.0, 1.0, 2.0]}
    # three SGD steps of lr 1 on d(w * x)/dw = x: 1 - (0 + 1 + 2)
    assert steps["a"][0].item() == steps["b"][0].item() == -2.0
