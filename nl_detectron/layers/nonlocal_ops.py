"""
The non-local operation y_i = 1/C(x) * sum_j f(x_i, x_j) g(x_j), for each pairwise function f of
Wang et al., "Non-local Neural Networks" (CVPR 2018), on already embedded inputs.

Shapes, shared by every function here:
    theta: (N, L, D) one row per query position i (L = H * W),
    phi:   (N, S, D) one row per key position j (S = L, or about L / 4 with subsampling),
    g:     (N, S, E) the values g(x_j),
    returns y: (N, L, E).
For the Gaussian mode, theta and phi are x itself (D = C).

``nonlocal_naive`` builds the full pairwise matrix, exactly as written in the paper: it is the
reference for tests and benchmarks. ``nonlocal_bounded`` gives the same numbers without keeping an
(L, S) matrix where the mode allows it.
"""

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.checkpoint import checkpoint

from .settings import SOFTMAX_MODES, check_setting

# How the softmax modes are computed by ``nonlocal_bounded``: "auto" (the path ``softmax_backend``
# chooses: a fused SDPA kernel where one serves the inputs, else "chunked"), "sdpa" (whatever
# SDPA picks, its math path included) or "chunked" (query chunks, recomputed in backward).
SOFTMAX_IMPLS = ("auto", "sdpa", "chunked")
# Elements of the (chunk, S) weight matrix the chunked path holds at once: 2**24 is 64 MiB fp32.
CHUNK_ELEMENTS = 1 << 24
# The most (N, L, S) weights the Gaussian mode keeps whole on CPU when a gradient is wanted
# (``softmax_backend``): 2**27 is 512 MiB fp32, res3 of an 800 x 1216 image at batch 2.
DENSE_GRAD_ELEMENTS = 1 << 27
# SDPA's CPU flash kernel (aten/src/ATen/native/cpu/FlashAttentionKernel.cpp, torch 2.1 to 2.11)
# runs blocks of FLASH_Q_BLOCKS queries x FLASH_KV_BLOCK keys, with one float32 buffer per thread.
FLASH_Q_BLOCKS = ((768, 256), (192, 64), (0, 32))  # (from this many queries, the block)
FLASH_KV_BLOCK = 512


def _concat_terms(theta, phi, concat_weight):
    """
    Split w_f . [theta_i, phi_j] into a per-i and a per-j term.

    Args:
        concat_weight: (1, 2D, 1, 1) weight of the 1x1 conv w_f.
    Returns:
        a: (N, L) = w_theta . theta_i, b: (N, S) = w_phi . phi_j
    """
    w = concat_weight.reshape(-1).to(theta.dtype)
    d = theta.shape[-1]
    return theta @ w[:d], phi @ w[d:]


def pairwise_weights(theta, phi, mode, *, concat_weight=None, scale=1.0):
    """
    The normalised pairwise weights f(x_i, x_j) / C(x), built in full.

    Returns:
        (N, L, S) tensor, in float32 or wider.
    """
    check_setting("mode", mode)
    with _full_precision(theta):
        return _pairwise_weights(_promote(theta), _promote(phi), mode, concat_weight, scale)


def _pairwise_weights(theta, phi, mode, concat_weight, scale):
    if mode in SOFTMAX_MODES:
        return torch.softmax(theta @ phi.transpose(1, 2) * scale, dim=-1)
    num_keys = phi.shape[1]
    if mode == "dot_product":
        return theta @ phi.transpose(1, 2) / num_keys
    # concatenation: ReLU(w_f^T [theta_i, phi_j]), on the concatenated vectors themselves.
    n, num_queries, d = theta.shape
    pairs = torch.cat(
        [
            theta[:, :, None, :].expand(n, num_queries, num_keys, d),
            phi[:, None, :, :].expand(n, num_queries, num_keys, d),
        ],
        dim=-1,
    )
    w = concat_weight.reshape(-1).to(pairs.dtype)
    return F.relu(pairs @ w) / num_keys


def nonlocal_naive(theta, phi, g, mode, *, concat_weight=None, scale=1.0):
    """The paper's formula with the full (N, L, S) weight matrix; see the module docstring."""
    weights = pairwise_weights(theta, phi, mode, concat_weight=concat_weight, scale=scale)
    with _full_precision(g):
        return (weights @ _promote(g)).to(g.dtype)


def nonlocal_bounded(theta, phi, g, mode, *, concat_weight=None, scale=1.0, softmax_impl="auto"):
    """
    The same numbers as ``nonlocal_naive``, computed without keeping the (L, S) matrix where the
    mode allows it:

    - Gaussian / embedded Gaussian: ``scaled_dot_product_attention`` with ``scale`` (1.0 is the
      paper's formula), whose fused backends never store the weights; where none serves the
      inputs (their dtype, device or head dimensions), query chunks of bounded size, each
      recomputed in backward (see ``SOFTMAX_IMPLS`` for ``softmax_impl``);
    - dot product: by associativity, theta (phi^T g) / S, linear in L and S (the other order
      where it is cheaper: small maps with wide channels);
    - concatenation: ReLU(a_i + b_j) summed over j is a sum over the keys whose b_j > -a_i,
      which a sort of b and prefix sums of g and b*g give for every i at once.
    """
    check_setting("mode", mode)
    if mode in SOFTMAX_MODES:
        return softmax_attention(theta, phi, g, scale=scale, impl=softmax_impl)
    out_dtype = g.dtype
    with _full_precision(g):
        theta, phi, g = _promote(theta), _promote(phi), _promote(g)
        num_keys = phi.shape[1]
        if mode == "dot_product":
            y = _dot_product(theta, phi, g)
        else:
            y = _concatenation_sorted(theta, phi, g, concat_weight) / num_keys
    return y.to(out_dtype)


def _dot_product(theta, phi, g):
    """
    theta phi^T g / S in the cheaper order: theta (phi^T g) costs D E (L + S) multiply-adds and
    keeps no (L, S) matrix; (theta phi^T) g costs L S (D + E), less only when L and S are small.
    The 1/S goes on the inner product, never on the (N, L, E) result, which would be one more
    tensor of the output's size.
    """
    (num_queries, d), (num_keys, e) = theta.shape[1:], g.shape[1:]
    if num_queries * num_keys * (d + e) < d * e * (num_queries + num_keys):
        return (theta @ phi.transpose(1, 2)).div_(num_keys) @ g
    return theta @ (phi.transpose(1, 2) @ g).div_(num_keys)


def softmax_attention(q, k, v, *, scale=1.0, impl="auto"):
    """
    softmax(q k^T * scale) v over the last two dims, never keeping the (L, S) matrix with the
    "auto" and "chunked" impls.

    Args:
        q: (N, L, D), k: (N, S, D), v: (N, S, E)
    Returns:
        (N, L, E)
    """
    if impl not in SOFTMAX_IMPLS:
        raise ValueError(f"Unknown softmax impl {impl!r}; valid: {', '.join(SOFTMAX_IMPLS)}")
    backend = softmax_backend(q, k, v) if impl == "auto" else None
    if impl == "chunked" or backend == "chunked":
        return _chunked_attention(q, k, v, scale)
    if backend == "dense":
        return _dense_attention(q, k, v, scale)
    # Fused kernels want q, k and v of one width; zero channels change no dot product and give
    # zero outputs, so padding to the larger width and slicing back is exact.
    q4, k4, v4 = (t.unsqueeze(1).contiguous() for t in _same_width(q, k, v))
    if backend is None:  # impl "sdpa": whatever SDPA picks, its math path included
        y = F.scaled_dot_product_attention(q4, k4, v4, scale=scale)
    else:
        with sdpa_kernel([SDPA_BACKENDS[backend]]):
            y = F.scaled_dot_product_attention(q4, k4, v4, scale=scale)
    return y.squeeze(1)[..., : v.shape[-1]]


def softmax_backend(q, k, v):
    """
    Which path ``softmax_attention(impl="auto")`` takes for these inputs, decided from what they
    are (device, dtype, head width) and never by trying: "flash", "efficient" (SDPA's fused
    kernels, which keep no weights), "chunked" (``_chunked_attention``) or "dense" (the weights in
    full).

    The rule, for inputs padded to one width D = max(q's, v's) (read off PyTorch's
    ``sdp_utils``, and for the CPU measured with torch 2.11; ``tests/layers`` pins it):

    - CPU: the flash kernel, for float32, float64, bfloat16 and float16, any D, with or without
      grad and autocast; it only needs q, k and v of one width, which the padding gives. Where
      the naive formula was measured faster (docs/benchmarks.md), the weights are computed in
      full as it does: "chunked" (whole within ``CHUNK_ELEMENTS``) when a gradient is wanted or q
      is wider than v (the Gaussian mode: D = C against C/2, v padded) and they fit
      ``CHUNK_ELEMENTS`` (the flash backward was 0.91x naive at res5 and res4); "dense" when both
      hold and they fit ``DENSE_GRAD_ELEMENTS`` (the Gaussian flash backward was 0.85x at res3);
      "dense" too where the weights take less memory than the flash kernel's buffers
      (``flash_buffer_elements``: small maps with wide channels, res5 at two threads).
    - CUDA: flash for float16 / bfloat16 with D <= 256 and D % 8 == 0 on compute capability 8.x
      and 9.x; otherwise the memory-efficient kernel, which has no upper bound on D, for float32,
      or float16 / bfloat16 (bfloat16 from capability 8.0), with D % 8 == 0. So head width 512
      (the res4 block's embedded Gaussian) goes to "efficient".
    - Anything else (float64 on CUDA, other devices): "chunked".

    Args: as ``softmax_attention``.
    """
    width = max(q.shape[-1], v.shape[-1])
    dtype = q.dtype
    if q.device.type == "cuda" and torch.is_autocast_enabled("cuda"):
        dtype = torch.get_autocast_dtype("cuda")
    if q.device.type == "cpu":
        weights = q.shape[0] * q.shape[1] * k.shape[1]
        padded = q.shape[-1] > v.shape[-1]
        grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
        if (padded or grad) and weights <= CHUNK_ELEMENTS:
            return "chunked"
        if padded and grad and weights <= DENSE_GRAD_ELEMENTS:
            return "dense"
        if weights <= flash_buffer_elements(q.shape[1], k.shape[1], width):
            return "dense"
        return "flash"
    if q.device.type != "cuda" or width % 8 != 0:
        return "chunked"
    major, _ = torch.cuda.get_device_capability(q.device)
    half = dtype in (torch.float16, torch.bfloat16)
    if half and width <= 256 and major in (8, 9):
        return "flash"
    if dtype == torch.float32 or dtype == torch.float16 or (dtype == torch.bfloat16 and major >= 8):
        return "efficient"
    return "chunked"


def flash_buffer_elements(num_queries, num_keys, width):
    """
    The float32 elements of the CPU flash kernel's working buffers at the current thread count:
    per thread, a block of q_block x kv_block scores, two q_block vectors (the running max and
    sum) and a q_block x width output accumulator.
    """
    q_block = next(block for start, block in FLASH_Q_BLOCKS if num_queries >= start)
    kv_block = min(num_keys, FLASH_KV_BLOCK)
    return torch.get_num_threads() * q_block * (kv_block + 2 + width)


SDPA_BACKENDS = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION}


def fused_backends_accepting(q, k, v):
    """
    The fused SDPA backends (cudnn, flash, efficient) that accept these inputs, padded to one
    width as ``softmax_attention`` pads them, found by trying each alone: for the benchmarks and
    the GPU check, to set beside what ``softmax_backend`` decides without trying.

    Returns:
        str: their names joined by "+", in SDPA's order of preference, or "none".
    """
    accepted = []
    q4, k4, v4 = (t.unsqueeze(1).contiguous() for t in _same_width(q, k, v))
    for backend in (
        SDPBackend.CUDNN_ATTENTION,
        SDPBackend.FLASH_ATTENTION,
        SDPBackend.EFFICIENT_ATTENTION,
    ):
        try:
            with sdpa_kernel([backend]):
                F.scaled_dot_product_attention(q4, k4, v4)
            accepted.append(backend.name.lower().replace("_attention", ""))
        except RuntimeError:
            pass
    return "+".join(accepted) or "none"


def _same_width(*tensors):
    """Zero-pad the last dim of the narrower tensors to the widest (no copy when all agree)."""
    width = max(t.shape[-1] for t in tensors)
    return [t if t.shape[-1] == width else F.pad(t, (0, width - t.shape[-1])) for t in tensors]


def _chunked_attention(q, k, v, scale):
    num_queries, num_keys = q.shape[1], k.shape[1]
    chunk = max(1, CHUNK_ELEMENTS // max(1, q.shape[0] * num_keys))
    if chunk >= num_queries:  # within the bound at once: recomputing would only cost time
        return _dense_attention(q, k, v, scale)
    needs_grad = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    out = []
    for start in range(0, num_queries, chunk):
        q_chunk = q[:, start : start + chunk]
        if needs_grad:
            # Keep no weights for backward: it recomputes them, one chunk at a time.
            out.append(checkpoint(_dense_attention, q_chunk, k, v, scale, use_reentrant=False))
        else:
            out.append(_dense_attention(q_chunk, k, v, scale))
    return torch.cat(out, dim=1)


def _dense_attention(q, k, v, scale):
    """One chunk of the chunked path: the naive softmax formula, weights in full."""
    return nonlocal_naive(q, k, v, "embedded_gaussian", scale=scale)


def _concatenation_sorted(theta, phi, g, concat_weight):
    """
    sum_j ReLU(a_i + b_j) g_j = a_i * G_i + B_i, where G_i and B_i are the sums of g_j and
    b_j * g_j over {j : b_j > -a_i}: the first m_i keys when sorted by decreasing b.

    Returns:
        (N, L, E) tensor, not yet divided by S.
    """
    a, b = _concat_terms(theta, phi, concat_weight)
    b_desc, order = torch.sort(b, dim=1, descending=True)
    g_desc = torch.gather(g, 1, order.unsqueeze(-1).expand_as(g))
    zeros = g.new_zeros(g.shape[0], 1, g.shape[2])
    sum_g = torch.cat([zeros, g_desc.cumsum(1)], dim=1)  # (N, S + 1, E)
    sum_bg = torch.cat([zeros, (b_desc.unsqueeze(-1) * g_desc).cumsum(1)], dim=1)
    # b_j > -a_i  <=>  -b_j < a_i; -b_desc is ascending, so searchsorted counts those keys.
    count = torch.searchsorted((-b_desc).contiguous(), a.contiguous(), right=False)
    index = count.unsqueeze(-1).expand(-1, -1, g.shape[2])
    return a.unsqueeze(-1) * torch.gather(sum_g, 1, index) + torch.gather(sum_bg, 1, index)


def _full_precision(t):
    """Keep autocast from casting the matmuls of the 1/N modes back to half precision."""
    return torch.autocast(device_type=t.device.type, enabled=False)


def _promote(t):
    """Half precision to float32: sums over thousands of positions overflow fp16."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t
