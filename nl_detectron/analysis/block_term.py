"""
The size of what each block of the family adds to its input, ||z - x|| / ||x||: exactly zero at
insertion, and how fast it grows as the block trains (benchmarks/insertion.py).
"""

import torch

from .capture import BlockCapture


@torch.no_grad()
def relative_terms(model, batched_inputs):
    """
    Args:
        model: a detectron2 model with blocks of the family; run here in inference mode (and left
            in the mode it was in).
        batched_inputs (list[dict]): the model's inputs.
    Returns:
        dict: block name -> ||z - x|| / ||x|| over the batch, x the block's (N, C, H, W) input and
        z its output (of its last call, for a block called more than once).
    """
    capture = BlockCapture(model)
    was_training = model.training
    try:
        model.eval()
        model(batched_inputs)
    finally:
        capture.remove()
        model.train(was_training)
    return {
        name: ((z - x).norm() / x.norm().clamp_min(1e-12)).item()
        for name, (x, z) in capture.calls.items()
    }
