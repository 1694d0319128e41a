"""
What decides whether an NL block learns, logged along training (docs/experiments.md, "Which
norm lets the block learn"): every ``NL_DIAGNOSTICS.PERIOD`` iterations, for each block of the
model that has a pairwise term (NL, DNL), detectron2's event storage (``metrics.json``) gets

- ``<block>/norm_input_std_images``, ``<block>/norm_input_std_positions``: the spread of the
  norm's input W_z y across the batch's images (the std over images of each channel's spatial
  mean) and across positions (each channel's std over positions), averaged over channels. A
  per-image norm (GN) cannot keep what differs between images when W_z y is the same at every
  position;
- ``<block>/grad_<param>``: the gradient norm of theta, phi, g, W_z (``out``) and the norm's
  scale after the step's backward;
- ``<block>/logit_std``: the std of the softmax logits over (query, key) pairs, per image (the
  softmax modes only);
- ``<block>/entropy``: the attention's entropy / log S (1: uniform);
- ``<block>/query_distance``: GCNet's mean cosine distance between the attention maps of
  different queries (0: one map for every query).
"""

import math

import torch

from detectron2.engine import HookBase
from detectron2.utils.events import get_event_storage

from ..analysis.attention_stats import mean_pairwise_cosine_distance
from ..analysis.capture import family_blocks

GRADIENT_PARAMETERS = ("theta", "phi", "g", "out")
# The queries (evenly spaced over the map) the attention statistics are taken over.
QUERIES = 256


def pairwise_blocks(model):
    """{name: block} of the blocks whose attention depends on the query and is embedded by theta
    and phi (NL's modes but "gaussian", DNL)."""
    model = getattr(model, "module", model)  # DDP
    return {
        name: m
        for name, m in family_blocks(model).items()
        if not m.query_independent and hasattr(m, "theta")
    }


@torch.no_grad()
def block_statistics(block, x, norm_input):
    """
    Args:
        block: an NL (or DNL) block.
        x: (N, C, H, W) its input; norm_input: (N, C, H, W) W_z y, its norm's input.
    Returns:
        dict: name -> float, the statistics above that need no gradient; those of the attention
        over at most ``QUERIES`` queries, evenly spaced.
    """
    per_image = norm_input.flatten(2)  # (N, C, HW)
    stats = {
        "norm_input_std_images": per_image.mean(2).std(0, unbiased=False).mean().item(),
        "norm_input_std_positions": per_image.std(2, unbiased=False).mean().item(),
    }
    theta, phi, _ = block.embed(x)
    # At most QUERIES queries, evenly spaced: the statistics of a large map without its
    # (N, L, S) matrix.
    index = torch.linspace(0, theta.shape[1] - 1, min(QUERIES, theta.shape[1])).long()
    theta = theta[:, index]
    if block.softmax_weights:
        # the 1/N modes have no logits: their f is normalised by N, not by a softmax
        logits = theta @ phi.transpose(1, 2) * block.pairwise_scale()  # (N, K, S)
        stats["logit_std"] = logits.flatten(1).std(1, unbiased=False).mean().item()
    weights = block.weights(theta, phi)
    num_keys = weights.shape[-1]
    if num_keys > 1:
        entropy = -(weights * weights.clamp_min(1e-12).log()).sum(-1) / math.log(num_keys)
        stats["entropy"] = entropy.mean().item()
    distances = [mean_pairwise_cosine_distance(w) for w in weights]
    distances = [d for d in distances if not math.isnan(d)]
    if distances:
        stats["query_distance"] = sum(distances) / len(distances)
    return stats


def gradient_norms(block):
    """{parameter: norm of its gradient} of the weights of theta, phi, g, W_z (``out``) and the
    norm's scale (``norm_scale``) of an NL (or DNL) block, those that have a gradient."""
    params = {p: getattr(block, p).weight for p in GRADIENT_PARAMETERS}
    if block.norm is not None and getattr(block.norm, "weight", None) is not None:
        params["norm_scale"] = block.norm.weight
    return {p: w.grad.norm().item() for p, w in params.items() if w.grad is not None}


class BlockDiagnostics(HookBase):
    """Puts the statistics of every pairwise block into the event storage every ``period``
    iterations (the iteration's first image batch)."""

    def __init__(self, model, period):
        self.blocks = pairwise_blocks(model)
        self.period = period
        self._captured = {}
        for name, block in self.blocks.items():
            block.register_forward_pre_hook(self._capture(name, "x"))
            block.out.register_forward_hook(self._capture(name, "norm_input"))

    def _capture(self, name, what):
        def hook(module, args, output=None):
            if self._active:
                tensor = args[0] if output is None else output
                self._captured.setdefault(name, {})[what] = tensor.detach()

        return hook

    _active = False

    def before_step(self):
        self._active = (self.trainer.iter + 1) % self.period == 0
        self._captured = {}

    def after_step(self):
        if not self._active:
            return
        self._active = False
        storage = get_event_storage()
        for name, block in self.blocks.items():
            captured = self._captured.get(name, {})
            if "x" not in captured or "norm_input" not in captured:
                continue
            stats = block_statistics(block, captured["x"], captured["norm_input"])
            for param_name, norm in gradient_norms(block).items():
                stats[f"grad_{param_name}"] = norm
            for key, value in stats.items():
                storage.put_scalar(f"{name}/{key}", value, smoothing_hint=False)
        self._captured = {}
