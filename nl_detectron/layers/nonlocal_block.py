import torch
import torch.nn.functional as F
from torch import nn

from detectron2.layers import FrozenBatchNorm2d, get_norm

from .attention import AttentionBlock
from .nonlocal_ops import SOFTMAX_MODES, nonlocal_bounded, nonlocal_naive, pairwise_weights
from .settings import (
    DEFAULTS,
    check_logit_scale,
    check_norm_at,
    check_norm_init_scale,
    check_setting,
)


def subsample(x):
    """
    The 2x2 max-pool of the phi and g paths, applied only along the sides that have 2 or more
    positions: a side of 1 (a res5 map of an image of 32 px or less, a C4 res4 map of a narrow
    crop, a small keypoint RoI) is kept as it is, since pooling it would leave no key position
    at all. Odd sides of 3 or more keep the official code's floor (5 -> 2), so every map that
    the official code accepts is pooled exactly as there.

    Args:
        x: (N, C, H, W)
    Returns:
        (N, C, H', W') with H' = H // 2 if H >= 2 else H, W' likewise.
    """
    kernel = tuple(2 if side >= 2 else 1 for side in x.shape[-2:])
    return F.max_pool2d(x, kernel_size=kernel)


def subsampled_size(h, w):
    """The (H', W') of ``subsample`` for an (H, W) map."""
    return tuple(side // 2 if side >= 2 else side for side in (h, w))


class NonLocalBlock2d(AttentionBlock):
    """
    The non-local block of Wang et al., "Non-local Neural Networks" (CVPR 2018), Fig. 2:

        z = norm(W_z y) + x,   y_i = 1/C(x) * sum_j f(x_i, x_j) g(x_j).

    theta, phi and g are 1x1 convs to ``inter_channels``; W_z (``out``) is a 1x1 conv back to
    ``in_channels``, followed by ``norm``. The scale of a trainable norm starts at zero, or W_z
    itself does when there is no trainable norm or the norm's scale starts elsewhere, so a new
    block is the identity: inserted into a pretrained network, the network computes exactly what
    it did before.
    """

    def __init__(
        self,
        in_channels,
        *,
        inter_channels=DEFAULTS["inter_channels"],
        mode=DEFAULTS["mode"],
        sub_sample=DEFAULTS["sub_sample"],
        sub_sample_at=DEFAULTS["sub_sample_at"],
        norm=DEFAULTS["norm"],
        norm_at=DEFAULTS["norm_at"],
        norm_init_scale=DEFAULTS["norm_init_scale"],
        init_std=DEFAULTS["init_std"],
        logit_scale=DEFAULTS["logit_scale"],
        use_scale=DEFAULTS["use_scale"],
        impl=DEFAULTS["impl"],
    ):
        """
        Every default is the ``MODEL.NONLOCAL`` key's (``settings.SETTINGS``), so a block built
        here and one a config builds agree.

        Args:
            in_channels (int): channels C of the input x.
            inter_channels (int or None): channels of theta, phi and g; None for C // 2.
            mode (str): the pairwise function f: "embedded_gaussian" (softmax of
                theta_i . phi_j), "gaussian" (softmax of x_i . x_j), "dot_product"
                (theta_i . phi_j / N) or "concatenation" (ReLU(w_f . [theta_i, phi_j]) / N).
            sub_sample (bool): 2x2 max-pool the phi and g paths (the paper's setting), along the
                sides of 2 or more positions only; see ``subsample``.
            sub_sample_at (str): "input" (pool x, then the phi and g convs: the official code)
                or "embedding" (pool phi(x) and g(x): mmcv, AlexHex7); see
                ``settings.SUB_SAMPLE_AT``.
            norm (str): norm after W_z, a name for detectron2's ``get_norm``: "" (none), "BN",
                "SyncBN", "GN", "FrozenBN", ...
            norm_at (str): "out" (norm(W_z y), the paper's) or "y" (W_z norm(y), the norm
                over the ``inter_channels`` of y, W_z starting at zero); see
                ``settings.NORM_AT``.
            norm_init_scale (float): the initial scale (gamma) of a trainable norm. 0 (the
                official BN_INIT_GAMMA) makes the block the identity through the norm; with any
                other value W_z starts at zero instead, so the block is still the identity.
            init_std (float): std of the Gaussian init of theta, phi, g and W_z (the official
                CONV_INIT_STD, 0.01).
            logit_scale (float): softmax modes only: a fixed factor on the logits, besides
                ``use_scale``'s (above 1: a sharper softmax).
            use_scale (bool): multiply the softmax modes' logits by 1/sqrt(D), D the width of
                the dot product: theta_i . phi_j (D = inter_channels, the official code's
                USE_SCALE) or, for "gaussian", x_i . x_j (D = in_channels). The 1/N modes are
                normalised by N and ignore it, as the official code's non-softmax branch does.
            impl (str): "bounded" (no (N, N) matrix kept where the mode allows) or "naive" (the
                formula as written, for reference).
        """
        super().__init__()
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        for name, value in (
            ("mode", mode),
            ("inter_channels", inter_channels),
            ("sub_sample", sub_sample),
            ("sub_sample_at", sub_sample_at),
            ("norm", norm),
            ("norm_at", norm_at),
            ("norm_init_scale", norm_init_scale),
            ("init_std", init_std),
            ("logit_scale", logit_scale),
            ("use_scale", use_scale),
            ("impl", impl),
        ):
            check_setting(name, value)
        check_norm_init_scale(norm, norm_init_scale)
        check_norm_at(norm, norm_at, norm_init_scale)
        check_logit_scale(mode, logit_scale)
        if inter_channels is None:
            inter_channels = in_channels // 2
        self.in_channels = in_channels
        self.inter_channels = inter_channels
        self.mode = mode
        self.impl = impl
        self.softmax_weights = mode in SOFTMAX_MODES
        self.signed = mode == "dot_product"
        self.label = mode
        self.sub_sample_at = sub_sample_at
        embed_channels = in_channels if mode == "gaussian" else inter_channels
        if mode in SOFTMAX_MODES:
            self.scale = (embed_channels**-0.5 if use_scale else 1.0) * logit_scale
        else:
            self.scale = 1.0

        if mode != "gaussian":
            self.theta = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
            self.phi = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
        self.g = nn.Conv2d(in_channels, inter_channels, kernel_size=1)
        if mode == "concatenation":
            # w_f, projecting [theta_i, phi_j] to a scalar.
            self.concat_project = nn.Conv2d(2 * inter_channels, 1, kernel_size=1, bias=False)
        self.out = nn.Conv2d(inter_channels, in_channels, kernel_size=1)
        self.norm_at = norm_at
        norm_channels = inter_channels if norm_at == "y" else in_channels
        self.norm = get_norm(norm, norm_channels) if norm else None
        self.sub_sample = sub_sample
        self.norm_init_scale = float(norm_init_scale)
        self.init_std = float(init_std)
        self._init_weights()

    def _init_weights(self):
        embeddings = (self.g,) if self.mode == "gaussian" else (self.theta, self.phi, self.g)
        for module in (*embeddings, self.out):
            # As the official code (CONV_INIT_STD = 0.01): Gaussian init, zero bias.
            nn.init.normal_(module.weight, std=self.init_std)
            nn.init.zeros_(module.bias)
        if self.mode == "concatenation":
            self._init_concatenation()
        trainable_norm = self.norm is not None and not isinstance(self.norm, FrozenBatchNorm2d)
        if trainable_norm:
            nn.init.constant_(self.norm.weight, self.norm_init_scale)
            nn.init.zeros_(self.norm.bias)
        if not trainable_norm or self.norm_init_scale != 0 or self.norm_at == "y":
            # No norm, a frozen one that stays the identity, a norm whose scale starts
            # elsewhere than zero, or a norm before W_z: W_z itself starts at zero.
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    @torch.no_grad()
    def _init_concatenation(self):
        """
        Start every pair on: w_f . [theta_i, phi_j] = 1 for all i, j, whatever x is.

        The pre-activation is a_i + b_j with a_i = w_theta . (W_theta x_i + bias_theta) (w_f's
        halves w_theta, w_phi; b_j alike). With random W_theta and W_phi on a non-negative x
        (after a ReLU) it is dominated by a random projection of x's mean, so its sign is the
        same for most pairs and a coin flip per init: all pairs can start off, where no
        gradient reaches theta, phi, g or w_f. So W_theta and W_phi start at zero (they still
        get gradients through w_f, which keeps PyTorch's default init) and their biases lie
        along w_theta and w_phi, giving a_i = b_j = 1/2. f / N is then 1/N, the uniform weights
        the softmax modes start near. docs/block.md, "The concatenation starts with every pair on",
        has the measurements.
        """
        w = self.concat_project.weight.reshape(2, self.inter_channels)
        for conv, w_half in zip((self.theta, self.phi), w):
            nn.init.zeros_(conv.weight)
            conv.bias.copy_(0.5 * w_half / w_half.square().sum())

    def embed(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            theta (N, H*W, D), phi (N, S, D), g (N, S, C'), channels last and contiguous;
            S = H*W, or (H//2)*(W//2) with subsampling; D = C' (or C for "gaussian").
        """
        pool_input = self.sub_sample and self.sub_sample_at == "input"
        x_hat = subsample(x) if pool_input else x  # the positions j
        if self.mode == "gaussian":
            theta, phi = x, x_hat
        else:
            theta, phi = self.theta(x), self.phi(x_hat)
        g = self.g(x_hat)
        if self.sub_sample and not pool_input:
            phi, g = subsample(phi), subsample(g)
        # Not .contiguous(): an empty batch (a keypoint head given no box) counts as contiguous
        # whatever its strides, and SDPA's fused kernels refuse a last dim of stride != 1; this
        # is recorded in a trace too, so an exported model takes zero boxes as well.
        return tuple(
            t.flatten(2).transpose(1, 2).clone(memory_format=torch.contiguous_format)
            for t in (theta, phi, g)
        )

    def forward(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            z: (N, C, H, W)
        """
        self.check_input(x)
        n, c, h, w = x.shape
        y = self.attend(x).transpose(1, 2).reshape(n, self.inter_channels, h, w)
        if self.norm_at == "y":
            return x + self.out(self.normalize(y))
        y = self.out(y)
        if self.norm is not None:
            y = self.normalize(y)
        return x + y

    def normalize(self, t):
        """
        ``self.norm(t)``, but where a batch norm in training gets one value per channel (a
        batch of one 1x1 map), which has no batch statistics: there it normalises with its
        running statistics, as in inference. (Not the synchronised norms: their statistics come
        from every process's batch.)

        Args:
            t: (N, C', H, W), C' the norm's channels
        """
        if self.training and type(self.norm) is nn.BatchNorm2d and t.numel() == t.shape[1]:
            norm = self.norm
            return F.batch_norm(
                t, norm.running_mean, norm.running_var, norm.weight, norm.bias, False, 0.0, norm.eps
            )
        return self.norm(t)

    def attend(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            y: (N, H*W, C'), y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j).
        """
        return self.pairwise(*self.embed(x))

    def pairwise(self, theta, phi, g):
        """The operation on ``embed``'s (N, L, D) tensors: (N, H*W, C')."""
        op = nonlocal_bounded if self.impl == "bounded" else nonlocal_naive
        return op(
            theta,
            phi,
            g,
            self.mode,
            concat_weight=self._concat_weight(),
            scale=self.pairwise_scale(),
        )

    def query_weights(self, x):
        """
        The embeddings of ``x`` computed once, and a function of flat query indices (K,) to
        their normalised weights f(x_i, x_j) / C(x): (N, K, S) over the S key positions.
        """
        theta, phi, _ = self.embed(x)
        return lambda index: self.weights(theta[:, index], phi)

    def weights(self, theta, phi):
        """f(x_i, x_j) / C(x) of ``embed``'s theta (N, K, D) and phi (N, S, D): (N, K, S)."""
        return pairwise_weights(
            theta, phi, self.mode, concat_weight=self._concat_weight(), scale=self.pairwise_scale()
        )

    def pairwise_scale(self):
        """The factor of the softmax modes' logits (1 for the 1/N modes)."""
        return self.scale

    def key_grid(self, h, w):
        """(H', W') of the key positions j for an (H, W) input: ``subsampled_size`` with
        subsampling, (H, W) without."""
        return subsampled_size(h, w) if self.sub_sample else (h, w)

    def _concat_weight(self):
        return self.concat_project.weight if self.mode == "concatenation" else None

    def extra_repr(self):
        pool = f"sub_sample_at={self.sub_sample_at}" if self.sub_sample else "sub_sample=False"
        norm_at = ", norm_at=y" if self.norm_at == "y" else ""
        return (
            f"mode={self.mode}, inter_channels={self.inter_channels}, {pool}, "
            f"scale={self.scale:.4g}, impl={self.impl}{norm_at}"
        )
