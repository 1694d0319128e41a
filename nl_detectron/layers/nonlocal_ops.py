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
reference for tests and benchmarks. ``nonlocal_fast`` gives the same numbers without keeping an
(L, S) matrix where the mode allows it.
"""
import torch
import torch.nn.functional as F

MODES = ("embedded_gaussian", "gaussian", "dot_product", "concatenation")
SOFTMAX_MODES = ("embedded_gaussian", "gaussian")


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"Unknown non-local mode {mode!r}; valid modes: {', '.join(MODES)}")


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
    check_mode(mode)
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


def nonlocal_fast(theta, phi, g, mode, *, concat_weight=None, scale=1.0):
    """
    The same numbers as ``nonlocal_naive``, computed without keeping the (L, S) matrix where the
    mode allows it:

    - Gaussian / embedded Gaussian: ``scaled_dot_product_attention`` with ``scale`` (1.0 is the
      paper's formula), whose fused backends never store the weights;
    - dot product: by associativity, theta (phi^T g) / S, linear in L and S;
    - concatenation: ReLU(a_i + b_j) summed over j is a sum over the keys whose b_j > -a_i,
      which a sort of b and prefix sums of g and b*g give for every i at once.
    """
    check_mode(mode)
    if mode in SOFTMAX_MODES:
        y = F.scaled_dot_product_attention(
            theta.unsqueeze(1).contiguous(),
            phi.unsqueeze(1).contiguous(),
            g.unsqueeze(1).contiguous(),
            scale=scale,
        )
        return y.squeeze(1)
    out_dtype = g.dtype
    with _full_precision(g):
        theta, phi, g = _promote(theta), _promote(phi), _promote(g)
        num_keys = phi.shape[1]
        if mode == "dot_product":
            y = theta @ (phi.transpose(1, 2) @ g) / num_keys
        else:
            y = _concatenation_sorted(theta, phi, g, concat_weight) / num_keys
    return y.to(out_dtype)


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
