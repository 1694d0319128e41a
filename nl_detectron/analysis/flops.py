"""FLOP and parameter counts with fvcore, counting the NL block's attention too."""

from fvcore.nn import FlopCountAnalysis, parameter_count
from fvcore.nn.jit_handles import get_shape

from detectron2.utils.analysis import FlopCountAnalysis as ModelFlopCountAnalysis


def sdpa_flop_jit(inputs, outputs):
    """
    Multiply-adds of ``aten::scaled_dot_product_attention`` (fvcore counts one per "flop"):
    q k^T and the weighted sum of v, for q (..., L, D), k (..., S, D), v (..., S, E).
    """
    q, k, v = (get_shape(t) for t in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    return batch * q[-2] * k[-2] * (q[-1] + v[-1])


def _with_sdpa(analysis):
    analysis.set_op_handle("aten::scaled_dot_product_attention", sdpa_flop_jit)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return analysis


def flop_count(module, inputs):
    """fvcore's analysis of ``module(*inputs)`` (a tuple of tensors); counts multiply-adds."""
    return _with_sdpa(FlopCountAnalysis(module, inputs))


def model_flop_count(model, batched_inputs):
    """detectron2's analysis of a whole model on its ``list[dict]`` inputs, at inference."""
    return _with_sdpa(ModelFlopCountAnalysis(model, batched_inputs))


def num_parameters(model):
    return parameter_count(model)[""]
