import torch
from torch import nn

from .attention import AttentionBlock
from .settings import DEFAULTS, check_setting

# The transform of the pooled context: "bottleneck" (GC: 1x1 conv to C/r, LayerNorm, ReLU, 1x1
# conv back) or "linear" (SNL: one 1x1 conv W_v, C to C).
TRANSFORMS = ("bottleneck", "linear")


class GlobalContextBlock2d(AttentionBlock):
    """
    The query-independent blocks of Cao et al., "GCNet: Non-local Networks Meet Squeeze-Excitation
    Networks and Beyond" (2019): one attention map for every query,

        a_j = softmax_j(w_k . x_j),   c = sum_j a_j x_j,   z_i = x_i + T(c),

    with T the simplified NL block's (SNL, Sec. 3.3) W_v, a 1x1 conv C -> C, or the GC block's
    (Sec. 4) bottleneck: 1x1 conv to C/r, LayerNorm, ReLU, 1x1 conv back to C. Time and memory
    are O(HW): no query-by-key matrix exists. The last conv of T starts at zero, so with "add"
    fusion a new block is the identity.
    """

    def __init__(
        self,
        in_channels,
        *,
        transform="bottleneck",
        ratio=DEFAULTS["gc_ratio"],
        fusion=DEFAULTS["gc_fusion"],
    ):
        """
        Args:
            in_channels (int): channels C of the input x.
            transform (str): "bottleneck" (GC) or "linear" (SNL); see ``TRANSFORMS``.
            ratio (int): the bottleneck's reduction r: C // r channels (GCNet's r16 and r4),
                at least 2 of them, since the LayerNorm over one channel would return its bias
                whatever the context. Not used by "linear".
            fusion (str): "add" or "mul"; see ``settings.FUSIONS``.
        """
        super().__init__()
        if not isinstance(in_channels, int) or in_channels <= 0:
            raise ValueError(f"in_channels must be a positive int, got {in_channels!r}")
        if transform not in TRANSFORMS:
            raise ValueError(f"Unknown transform {transform!r}; valid: {', '.join(TRANSFORMS)}")
        check_setting("gc_fusion", fusion, "fusion")
        check_setting("gc_ratio", ratio, "ratio")
        if transform == "bottleneck" and in_channels // ratio < 2:
            raise ValueError(
                f"ratio = {ratio!r} leaves {in_channels // ratio} channel(s) of {in_channels} in "
                "the bottleneck, where its LayerNorm returns its bias whatever the context; use "
                f"a ratio of at most {in_channels // 2}"
            )
        self.in_channels = in_channels
        self.transform_kind = transform
        self.ratio = ratio
        self.fusion = fusion
        name = "simplified NL" if transform == "linear" else "global context"
        self.label = f"{name}: one map for every query"
        self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)  # w_k
        if transform == "linear":
            self.transform = nn.Conv2d(in_channels, in_channels, kernel_size=1)  # W_v
        else:
            planes = in_channels // ratio
            self.transform = nn.Sequential(
                nn.Conv2d(in_channels, planes, kernel_size=1),
                nn.LayerNorm([planes, 1, 1]),
                nn.ReLU(inplace=True),
                nn.Conv2d(planes, in_channels, kernel_size=1),
            )
        self._init_weights()

    # Its attention weights are a softmax over the key positions, one map for every query.
    query_independent = True

    def _init_weights(self):
        # As mmcv's ContextBlock: w_k Kaiming (fan in), zero bias; the last conv of T zero.
        nn.init.kaiming_normal_(self.conv_mask.weight, mode="fan_in", nonlinearity="relu")
        nn.init.zeros_(self.conv_mask.bias)
        last = self.transform if self.transform_kind == "linear" else self.transform[-1]
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def context_weights(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            a: (N, H*W), the softmax over positions of w_k . x_j.
        """
        return self.conv_mask(x).flatten(1).softmax(dim=1)

    def forward(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            z: (N, C, H, W)
        """
        self.check_input(x)
        a = self.context_weights(x)
        context = torch.bmm(x.flatten(2), a.unsqueeze(2)).unsqueeze(3)  # (N, C, 1, 1)
        term = self.transform(context)
        if self.fusion == "mul":
            return x * torch.sigmoid(term)
        return x + term

    def key_grid(self, h, w):
        """(H', W') of the key positions j for an (H, W) input: all of them."""
        return (h, w)

    def query_weights(self, x):
        """
        A function of query indices (K,) (flat positions of x's grid) to their weights (N, K, S)
        over the S = H*W key positions: the same map for every query.
        """
        a = self.context_weights(x)
        return lambda index: a.unsqueeze(1).expand(-1, len(index), -1)

    def extra_repr(self):
        ratio = f", ratio={self.ratio}" if self.transform_kind == "bottleneck" else ""
        return f"transform={self.transform_kind}{ratio}, fusion={self.fusion}"
