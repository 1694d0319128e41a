"""
The block on the shapes that real inputs produce besides the usual ones: an empty batch (a
keypoint head given no box), a side of 1 (res5 of a 32-pixel image, a narrow C4 crop), 1x1 and
odd sides. Property-based: ``hypothesis`` draws the shapes, modes, pooling orders, impls and
dtypes, derandomised so that every machine runs the same examples.
"""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from nl_detectron.layers import MODES, NonLocalBlock2d
from nl_detectron.layers.nonlocal_block import subsample, subsampled_size

SUBSAMPLINGS = [
    dict(sub_sample=False),
    dict(sub_sample=True, sub_sample_at="input"),
    dict(sub_sample=True, sub_sample_at="embedding"),
]
# bounded against naive, per dtype: float64 to rounding, the others to their precision (bfloat16
# runs the softmax modes through SDPA in bfloat16, naive in float32).
TOLERANCES = {
    torch.float64: dict(rtol=1e-9, atol=1e-10),
    torch.float32: dict(rtol=1e-4, atol=1e-5),
    torch.bfloat16: dict(rtol=5e-2, atol=5e-2),
}
DEGENERATE = settings(max_examples=80, deadline=None, derandomize=True)
# The drawn block inputs: batch (0 is the keypoint head's empty batch), sides from 1, every mode
# and pooling order.
SHAPES = dict(
    n=st.sampled_from([0, 1, 2]),
    h=st.integers(1, 7),
    w=st.integers(1, 7),
    mode=st.sampled_from(MODES),
    subsampling=st.sampled_from(SUBSAMPLINGS),
)


def _block(mode, subsampling, impl, dtype, channels=8, seed=0):
    """A block whose W_z is non-zero (so y matters) with every other weight drawn from seed."""
    torch.manual_seed(seed)
    block = NonLocalBlock2d(channels, mode=mode, impl=impl, **subsampling, norm="")
    with torch.no_grad():
        for p in block.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return block.to(dtype)


@pytest.mark.parametrize(
    "size, pooled",
    [((1, 7), (1, 3)), ((7, 1), (3, 1)), ((1, 1), (1, 1)), ((5, 3), (2, 1)), ((2, 2), (1, 1))],
)
def test_subsample_pools_only_the_sides_of_two_or_more(size, pooled):
    x = torch.randn(2, 3, *size)
    assert subsample(x).shape[-2:] == pooled
    assert subsampled_size(*size) == pooled
    # A kept side of 1 is max-pooled along the other side only.
    if size[0] == 1 and size[1] >= 2:
        expected = nn.functional.max_pool1d(x[:, :, 0], kernel_size=2).unsqueeze(2)
        torch.testing.assert_close(subsample(x), expected)


@given(h=st.integers(2, 9), w=st.integers(2, 9))
@DEGENERATE
def test_subsample_is_the_official_max_pool_where_every_side_has_two(h, w):
    x = torch.randn(2, 3, h, w)
    torch.testing.assert_close(subsample(x), nn.MaxPool2d(kernel_size=2)(x))


@given(**SHAPES, dtype=st.sampled_from(list(TOLERANCES)))
@DEGENERATE
def test_bounded_equals_naive_on_any_shape_outputs_and_gradients(n, h, w, mode, subsampling, dtype):
    bounded = _block(mode, subsampling, "bounded", dtype)
    naive = _block(mode, subsampling, "naive", dtype)
    x = torch.randn(n, 8, h, w, dtype=dtype)
    x_bounded, x_naive = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_bounded, out_naive = bounded(x_bounded), naive(x_naive)
    assert out_bounded.shape == x.shape and out_bounded.dtype == dtype
    assert torch.isfinite(out_bounded).all()
    torch.testing.assert_close(out_bounded, out_naive, **TOLERANCES[dtype])
    weight = torch.randn_like(out_bounded)
    (out_bounded * weight).sum().backward()
    (out_naive * weight).sum().backward()
    assert torch.isfinite(x_bounded.grad).all()
    torch.testing.assert_close(x_bounded.grad, x_naive.grad, **TOLERANCES[dtype])
    naive_grads = dict(naive.named_parameters())
    for name, p in bounded.named_parameters():
        # Every parameter stays in the graph, an empty batch too (its gradient is then zero).
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        torch.testing.assert_close(p.grad, naive_grads[name].grad, **TOLERANCES[dtype], msg=name)


@given(**SHAPES, data=st.data())
@DEGENERATE
def test_attention_map_on_any_shape(n, h, w, mode, subsampling, data):
    block = _block(mode, subsampling, "bounded", torch.float64)
    x = torch.randn(n, 8, h, w, dtype=torch.float64)
    row, col = data.draw(st.integers(0, h - 1)), data.draw(st.integers(0, w - 1))
    maps = block.attention_map(x, [[row, col]])
    grid = subsampled_size(h, w) if subsampling["sub_sample"] else (h, w)
    assert maps.shape == (n, 1, *grid)
    assert torch.isfinite(maps).all()
    if n and mode in ("embedded_gaussian", "gaussian"):
        torch.testing.assert_close(maps.sum((2, 3)), torch.ones(n, 1, dtype=torch.float64))


@pytest.mark.parametrize("mode", MODES)
def test_empty_batch_in_train_mode_with_group_norm(mode):
    """The keypoint head's case: GN after W_z, training, a batch of zero RoIs."""
    block = NonLocalBlock2d(32, mode=mode, norm="GN").train()
    x = torch.randn(0, 32, 14, 14, requires_grad=True)
    out = block(x)
    out.sum().backward()
    assert out.shape == x.shape and x.grad.shape == x.shape
