import torch
from torch import nn

from detectron2.layers import FrozenBatchNorm2d, get_norm

from .nonlocal_ops import (
    SOFTMAX_MODES,
    check_mode,
    nonlocal_fast,
    nonlocal_naive,
    pairwise_weights,
)

IMPLS = ("fast", "naive")


class NonLocalBlock2d(nn.Module):
    """
    The non-local block of Wang et al., "Non-local Neural Networks" (CVPR 2018), Fig. 2:

        z = norm(W_z y) + x,   y_i = 1/C(x) * sum_j f(x_i, x_j) g(x_j).

    theta, phi and g are 1x1 convs to ``inter_channels``; W_z (``out``) is a 1x1 conv back to
    ``in_channels``, followed by ``norm``. The scale of a trainable norm starts at zero, or W_z
    itself does when there is no trainable norm, so a new block is the identity: inserted into a
    pretrained network, the network computes exactly what it did before.
    """

    def __init__(
        self,
        in_channels,
        *,
        inter_channels=None,
        mode="embedded_gaussian",
        sub_sample=True,
        norm="",
        use_scale=False,
        impl="fast",
    ):
        """
        Args:
            in_channels (int): channels C of the input x.
            inter_channels (int or None): channels of theta, phi and g; None for C // 2.
            mode (str): the pairwise function f: "embedded_gaussian" (softmax of
                theta_i . phi_j), "gaussian" (softmax of x_i . x_j), "dot_product"
                (theta_i . phi_j / N) or "concatenation" (ReLU(w_f . [theta_i, phi_j]) / N).
            sub_sample (bool): 2x2 max-pool the phi and g paths (the paper's setting).
            norm (str): norm after W_z, a name for detectron2's ``get_norm``: "" (none), "BN",
                "SyncBN", "GN", "FrozenBN", ...
            use_scale (bool): multiply theta_i . phi_j by 1/sqrt(inter_channels) before the
                softmax (the official code's USE_SCALE); softmax modes only.
            impl (str): "fast" (no (N, N) matrix kept where the mode allows) or "naive" (the
                formula as written, for reference).
        """
        super().__init__()
        check_mode(mode)
        if inter_channels is None:
            inter_channels = in_channels // 2
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        if not isinstance(inter_channels, int) or inter_channels <= 0:
            raise ValueError(f"inter_channels must be a positive int, got {inter_channels!r}")
        if use_scale and mode not in SOFTMAX_MODES:
            raise ValueError(
                f"use_scale applies to the softmax modes {SOFTMAX_MODES}, not to mode {mode!r}"
            )
        if impl not in IMPLS:
            raise ValueError(f"Unknown impl {impl!r}; valid: {', '.join(IMPLS)}")
        self.in_channels = in_channels
        self.inter_channels = inter_channels
        self.mode = mode
        self.impl = impl
        embed_channels = in_channels if mode == "gaussian" else inter_channels
        self.scale = embed_channels**-0.5 if use_scale else 1.0

        if mode != "gaussian":
            self.theta = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
            self.phi = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
        self.g = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
        if mode == "concatenation":
            # w_f, projecting [theta_i, phi_j] to a scalar.
            self.concat_project = nn.Conv2d(2 * inter_channels, 1, kernel_size=1, bias=False)
        self.out = nn.Conv2d(inter_channels, in_channels, kernel_size=1)
        self.norm = get_norm(norm, in_channels) if norm else None
        self.pool = nn.MaxPool2d(kernel_size=2) if sub_sample else None
        self._init_weights()

    def _init_weights(self):
        for module in self.children():
            if isinstance(module, nn.Conv2d):
                # As the paper's code: Gaussian init of std 0.01, zero bias.
                nn.init.normal_(module.weight, std=0.01)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        trainable_norm = self.norm is not None and not isinstance(self.norm, FrozenBatchNorm2d)
        if trainable_norm:
            nn.init.zeros_(self.norm.weight)
            nn.init.zeros_(self.norm.bias)
        else:
            # No norm, or a frozen one that stays the identity: W_z itself starts at zero.
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    def embed(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            theta (N, H*W, D), phi (N, S, D), g (N, S, C'), channels last and contiguous;
            S = H*W, or (H//2)*(W//2) with subsampling; D = C' (or C for "gaussian").
        """
        if self.mode == "gaussian":
            theta, phi = x, x
        else:
            theta, phi = self.theta(x), self.phi(x)
        g = self.g(x)
        if self.pool is not None:
            phi, g = self.pool(phi), self.pool(g)
        return tuple(t.flatten(2).transpose(1, 2).contiguous() for t in (theta, phi, g))

    def forward(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            z: (N, C, H, W)
        """
        theta, phi, g = self.embed(x)
        op = nonlocal_fast if self.impl == "fast" else nonlocal_naive
        y = op(theta, phi, g, self.mode, concat_weight=self._concat_weight(), scale=self.scale)
        n, c, h, w = x.shape
        y = y.transpose(1, 2).reshape(n, self.inter_channels, h, w)
        y = self.out(y)
        if self.norm is not None:
            y = self.norm(y)
        return x + y

    @torch.no_grad()
    def attention_map(self, x, queries):
        """
        The normalised weights f(x_i, x_j) / C(x) of chosen query positions i over all
        positions j, computed for those queries only (no (N, N) matrix).

        Args:
            x: (N, C, H, W) the block's input.
            queries: (K, 2) integer (row, column) positions in x's grid.
        Returns:
            (N, K, H', W'): H' x W' is the grid of j (H // 2 x W // 2 with subsampling).
        """
        queries = torch.as_tensor(queries, dtype=torch.long, device=x.device).reshape(-1, 2)
        n, _, h, w = x.shape
        if ((queries < 0) | (queries >= torch.tensor([h, w], device=x.device))).any():
            raise ValueError(f"query positions {queries.tolist()} outside the {h}x{w} grid")
        theta, phi, _ = self.embed(x)
        theta = theta[:, queries[:, 0] * w + queries[:, 1]]
        weights = pairwise_weights(
            theta, phi, self.mode, concat_weight=self._concat_weight(), scale=self.scale
        )
        grid = (h // 2, w // 2) if self.pool is not None else (h, w)
        return weights.reshape(n, len(queries), *grid)

    def _concat_weight(self):
        return self.concat_project.weight if self.mode == "concatenation" else None

    def extra_repr(self):
        return f"mode={self.mode}, inter_channels={self.inter_channels}, impl={self.impl}"
