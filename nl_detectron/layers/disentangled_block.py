import torch
from torch import nn

from .nonlocal_block import NonLocalBlock2d, subsample
from .settings import DEFAULTS, check_setting


class DisentangledNonLocalBlock2d(NonLocalBlock2d):
    """
    The disentangled non-local block of Yin et al., "Disentangled Non-Local Neural Networks"
    (ECCV 2020): the NL block's attention split into a whitened pairwise term and a unary term,

        w_ij = softmax_j((theta_i - mu_theta) . (phi_j - mu_phi) * s / tau) + softmax_j(w_m . x_j),
        z_i = norm(W_z sum_j w_ij g(x_j)) + x_i,

    mu the means over positions, s the NL block's ``use_scale`` factor, tau the temperature. The
    pairwise term is an attention of centred queries and keys, so it runs on the NL block's
    memory-bounded softmax path (SDPA); the unary term is one map for every query. The
    subsampling, embeddings, W_z, norm and identity at init are the NL block's.
    """

    def __init__(self, in_channels, *, temperature=DEFAULTS["dnl_temperature"], **kwargs):
        """
        Args:
            temperature (float): tau, above 0 (mmsegmentation's DNLHead default, 0.05).
            kwargs: as ``NonLocalBlock2d``; ``mode`` must be "embedded_gaussian".
        """
        mode = kwargs.setdefault("mode", "embedded_gaussian")
        if mode != "embedded_gaussian":
            raise ValueError(
                f"the disentangled block's pairwise term is embedded_gaussian, got {mode!r}"
            )
        check_setting("dnl_temperature", temperature, "temperature")
        super().__init__(in_channels, **kwargs)
        self.temperature = float(temperature)
        self.label = "disentangled: whitened pairwise term"
        self.conv_mask = nn.Conv2d(in_channels, 1, kernel_size=1)  # w_m
        nn.init.normal_(self.conv_mask.weight, std=self.init_std)
        nn.init.zeros_(self.conv_mask.bias)

    def embed(self, x):
        """``NonLocalBlock2d.embed`` with theta and phi centred over positions, per map."""
        theta, phi, g = super().embed(x)
        return theta - theta.mean(1, keepdim=True), phi - phi.mean(1, keepdim=True), g

    def pairwise_scale(self):
        return self.scale / self.temperature

    def unary_weights(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            (N, S): softmax_j(w_m . x_j) over the S key positions (the pooled grid with
            subsampling, as g's).
        """
        x_hat = subsample(x) if self.sub_sample else x
        return self.conv_mask(x_hat).flatten(1).softmax(dim=1)

    def attend(self, x):
        """
        Args:
            x: (N, C, H, W)
        Returns:
            y: (N, H*W, C'): the pairwise term's sum plus the unary term's, the same for every i.
        """
        theta, phi, g = self.embed(x)
        return self.pairwise(theta, phi, g) + torch.bmm(self.unary_weights(x).unsqueeze(1), g)

    @torch.no_grad()
    def query_independent_terms(self, x):
        """The unary term's weights (N, S), one map for every query."""
        return [
            ("unary", "disentangled: unary term, one map for every query", self.unary_weights(x))
        ]

    def extra_repr(self):
        return super().extra_repr() + f", temperature={self.temperature:g}"
