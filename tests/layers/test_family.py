"""
The non-local family: SNL and GC (GCNet) and DNL, each against its peer's computation (mmcv's
``ContextBlock``, mmsegmentation's ``DisentangledNonLocal2d``), ported below into naive
references of their formulas, weights copied; identity at init; their attention maps.
"""

import pytest
import torch
import torch.nn.functional as F

from nl_detectron.analysis.attention_stats import block_statistics
from nl_detectron.layers import (
    BLOCKS,
    DisentangledNonLocalBlock2d,
    GlobalContextBlock2d,
    build_block,
)
from tests.helpers import perturb

TOL = dict(rtol=1e-5, atol=1e-5)


def mmcv_context_block(x, conv_mask, transform, fusion):
    """
    mmcv's ``ContextBlock`` (mmcv/cnn/bricks/context_block.py, pooling "att") as its forward
    computes it: conv_mask, softmax over H*W, context = x @ mask, then channel_add (out = x +
    T(context)) or channel_mul (out = x * sigmoid(T(context))), T = conv, LayerNorm([planes, 1,
    1]), ReLU, conv.
    """
    n, c, h, w = x.shape
    mask = F.conv2d(x, conv_mask.weight, conv_mask.bias).view(n, 1, h * w).softmax(dim=2)
    context = torch.matmul(x.view(n, 1, c, h * w), mask.unsqueeze(-1)).view(n, c, 1, 1)
    conv1, norm, _, conv2 = transform
    t = F.conv2d(context, conv1.weight, conv1.bias)
    t = F.layer_norm(t, norm.normalized_shape, norm.weight, norm.bias, norm.eps)
    t = F.conv2d(F.relu(t), conv2.weight, conv2.bias)
    return x + t if fusion == "add" else x * torch.sigmoid(t)


@pytest.mark.parametrize("fusion", ["add", "mul"])
@pytest.mark.parametrize("ratio", [4, 16])
def test_gc_equals_mmcv_context_block(ratio, fusion):
    torch.manual_seed(0)
    block = perturb(GlobalContextBlock2d(64, ratio=ratio, fusion=fusion))
    # mmcv's planes = int(in_channels * ratio) with ratio 1/r
    assert block.transform[0].out_channels == int(64 * (1.0 / ratio))
    x = torch.randn(2, 64, 9, 11)
    want = mmcv_context_block(x, block.conv_mask, block.transform, fusion)
    torch.testing.assert_close(block(x), want, **TOL)


def test_snl_is_gcnets_simplified_formula():
    """GCNet eq. (2): z_i = x_i + W_v sum_j softmax_j(W_k x_j) x_j."""
    torch.manual_seed(0)
    block = perturb(build_block(32, block="simplified"))
    x = torch.randn(2, 32, 6, 7, dtype=torch.float64)
    block.double()
    a = torch.einsum("c,nchw->nhw", block.conv_mask.weight.flatten(), x) + block.conv_mask.bias
    a = a.flatten(1).softmax(1)
    pooled = torch.einsum("nj,ncj->nc", a, x.flatten(2))
    w_v = block.transform.weight.flatten(1)
    want = x + (pooled @ w_v.T + block.transform.bias)[:, :, None, None]
    torch.testing.assert_close(block(x), want, rtol=1e-10, atol=1e-10)


def mmseg_dnl(x, block):
    """
    mmsegmentation's ``DisentangledNonLocal2d.forward`` (mmseg/models/decode_heads/dnl_head.py,
    embedded gaussian, no subsampling, no norm) as written: theta, phi centred over positions,
    softmax(theta . phi / sqrt(C') / tau) @ g, unary softmax(conv_mask(x)) @ g, and
    ``x + conv_out(y) + conv_out(unary_x)``: conv_out applied to each term, its bias twice.
    """
    n, _, h, w = x.shape
    c = block.inter_channels

    def conv(m, t):
        return F.conv2d(t, m.weight, m.bias)

    g_x = conv(block.g, x).view(n, c, -1).permute(0, 2, 1)
    theta_x = conv(block.theta, x).view(n, c, -1).permute(0, 2, 1)
    phi_x = conv(block.phi, x).view(n, c, -1)
    theta_x = theta_x - theta_x.mean(dim=-2, keepdim=True)
    phi_x = phi_x - phi_x.mean(dim=-1, keepdim=True)
    pairwise = torch.matmul(theta_x, phi_x) / theta_x.shape[-1] ** 0.5 / block.temperature
    y = torch.matmul(pairwise.softmax(dim=-1), g_x).permute(0, 2, 1).reshape(n, c, h, w)
    unary_mask = conv(block.conv_mask, x).view(n, 1, -1).softmax(dim=-1)
    unary_x = torch.matmul(unary_mask, g_x).permute(0, 2, 1).reshape(n, c, 1, 1)
    return x + conv(block.out, y) + conv(block.out, unary_x)


@pytest.mark.parametrize("impl", ["bounded", "naive"])
def test_dnl_equals_mmseg_but_for_its_second_bias(impl):
    torch.manual_seed(0)
    block = perturb(
        DisentangledNonLocalBlock2d(32, sub_sample=False, norm="", impl=impl, temperature=0.05)
    ).double()  # tau = 0.05 sharpens the softmax: float32 rounding alone differs by 1e-4
    x = torch.randn(2, 32, 7, 9, dtype=torch.float64)
    # The paper's W_z (y_pairwise + y_unary) adds W_z's bias once; mmseg's two conv_out calls
    # add it twice. docs/family.md lists this.
    want = mmseg_dnl(x, block) - block.out.bias[None, :, None, None]
    torch.testing.assert_close(block(x), want, **TOL)


@pytest.mark.parametrize("sub_sample_at", ["input", "embedding"])
def test_dnl_bounded_equals_naive_with_subsampling(sub_sample_at):
    torch.manual_seed(0)
    fast = perturb(DisentangledNonLocalBlock2d(16, sub_sample_at=sub_sample_at, norm="")).double()
    naive = DisentangledNonLocalBlock2d(
        16, sub_sample_at=sub_sample_at, impl="naive", norm=""
    ).double()
    naive.load_state_dict(fast.state_dict())
    x = torch.randn(2, 16, 7, 9, dtype=torch.float64, requires_grad=True)
    out_fast, out_naive = fast(x), naive(x)
    torch.testing.assert_close(out_fast, out_naive, rtol=1e-9, atol=1e-10)
    (g_fast,) = torch.autograd.grad(out_fast.square().sum(), x)
    (g_naive,) = torch.autograd.grad(out_naive.square().sum(), x)
    torch.testing.assert_close(g_fast, g_naive, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("shape", [(2, 64, 9, 11), (0, 64, 14, 14), (1, 64, 1, 1)])
def test_every_block_is_the_identity_at_init(block, shape):
    torch.manual_seed(0)
    module = build_block(64, block=block).train()
    x = torch.randn(*shape)
    assert torch.equal(module(x), x)
    assert (perturb(module)(x) - x).abs().max() > 1e-3 if shape[0] else True


def test_gc_mul_fusion_halves_x_at_init():
    """mmcv's channel_mul, x * sigmoid(0): not the identity, as documented."""
    x = torch.randn(1, 32, 5, 5)
    torch.testing.assert_close(GlobalContextBlock2d(32, fusion="mul")(x), x / 2)


def test_gc_attention_is_one_map_for_every_query_and_its_distance_is_zero():
    torch.manual_seed(0)
    block = perturb(GlobalContextBlock2d(32, ratio=4))
    x = torch.randn(1, 32, 6, 8)
    maps = block.attention_map(x, [[0, 0], [5, 7], [2, 3]])
    assert maps.shape == (1, 3, 6, 8)
    a = block.context_weights(x).reshape(1, 6, 8)
    for k in range(3):
        torch.testing.assert_close(maps[0, k], a[0])
    stats = block_statistics(block, x)[0]
    assert stats["attention_distance"] == pytest.approx(0.0, abs=1e-9)
    assert 0 < stats["entropy"] <= 1


def test_dnl_attention_map_is_the_whitened_pairwise_softmax():
    torch.manual_seed(0)
    block = perturb(
        DisentangledNonLocalBlock2d(16, sub_sample=False, temperature=0.5, norm="")
    ).double()
    x = torch.randn(1, 16, 5, 6, dtype=torch.float64)
    theta = block.theta(x).flatten(2).transpose(1, 2)
    phi = block.phi(x).flatten(2).transpose(1, 2)
    theta, phi = theta - theta.mean(1, keepdim=True), phi - phi.mean(1, keepdim=True)
    logits = theta @ phi.transpose(1, 2) * block.inter_channels**-0.5 / 0.5
    want = logits.softmax(-1)[0, 2 * 6 + 3].reshape(5, 6)
    torch.testing.assert_close(block.attention_map(x, [[2, 3]])[0, 0], want)
    unary = block.conv_mask(x).flatten(1).softmax(1)
    ((name, label, weights),) = block.query_independent_terms(x)
    assert name == "unary" and "one map for every query" in label
    torch.testing.assert_close(weights, unary)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(transform="dense"), "Unknown transform 'dense'"),
        (dict(fusion="concat"), "fusion = 'concat' is not one of add, mul"),
        (dict(ratio=0), "ratio = 0 must be an int of 1 or more"),
    ],
)
def test_gc_bad_arguments_name_the_value(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GlobalContextBlock2d(32, **kwargs)


def test_dnl_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="temperature = 0 must be a finite number above 0"):
        DisentangledNonLocalBlock2d(32, temperature=0)
    with pytest.raises(ValueError, match="embedded_gaussian, got 'dot_product'"):
        DisentangledNonLocalBlock2d(32, mode="dot_product")
    with pytest.raises(ValueError, match="block = 'dnl' is not one of"):
        build_block(32, block="dnl")
