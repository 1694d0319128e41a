"""FLOP and parameter counts with fvcore, counting the NL block's attention too."""

import copy

import torch
from fvcore.nn import FlopCountAnalysis, parameter_count
from fvcore.nn.jit_handles import get_shape
from omegaconf import DictConfig

from detectron2.config import instantiate
from detectron2.modeling import build_model
from detectron2.utils.analysis import FlopCountAnalysis as ModelFlopCountAnalysis

from .config import is_lazy
from .modeling import NL_BACKBONES, NL_KEYPOINT_HEADS, nonlocal_resnet


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


def baseline_twin(cfg):
    """
    A copy of ``cfg`` with detectron2's own backbone and keypoint head: no NL block. For a
    Python config, the ResNet its ``nonlocal_resnet`` wraps.
    """
    if is_lazy(cfg):
        return lazy_baseline_twin(cfg)
    twin = cfg.clone()
    twin.defrost()
    twin.MODEL.BACKBONE.NAME = NL_BACKBONES.get(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.NAME)
    head = cfg.MODEL.ROI_KEYPOINT_HEAD.NAME
    twin.MODEL.ROI_KEYPOINT_HEAD.NAME = NL_KEYPOINT_HEADS.get(head, head)
    return twin


def lazy_baseline_twin(cfg):
    """
    A copy of the Python config ``cfg`` whose ``model.backbone.bottom_up`` (or
    ``model.backbone``), a ``nonlocal_resnet``, is replaced by the ResNet it wraps.

    Raises:
        ValueError: the config wraps no ResNet with ``nonlocal_resnet`` there.
    """
    twin = copy.deepcopy(cfg)
    backbone = twin.model.backbone
    if _is_nonlocal_resnet(backbone.get("bottom_up")):
        in_features = list(backbone.bottom_up.resnet.out_features)
        backbone.bottom_up = backbone.bottom_up.resnet
        if "in_features" in backbone:  # it may have read the wrapped ResNet's out_features
            backbone.in_features = in_features
    elif _is_nonlocal_resnet(backbone):
        twin.model.backbone = backbone.resnet
    else:
        raise ValueError(
            "model.backbone.bottom_up (or model.backbone) of this Python config is not a "
            "nonlocal_resnet: the config builds no NL block, give an NL config"
        )
    return twin


def _is_nonlocal_resnet(node):
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    return target is nonlocal_resnet or str(target).endswith("nonlocal_resnet")


def build_any_model(cfg):
    """The model of a YAML or Python config, on its device, with random weights."""
    if is_lazy(cfg):
        return instantiate(cfg.model).to(cfg.train.device)
    return build_model(cfg)


def config_device(cfg):
    return cfg.train.device if is_lazy(cfg) else cfg.MODEL.DEVICE


def compare_with_baseline(cfg, height, width, seed=0):
    """
    Parameters and inference FLOPs of the model of ``cfg`` and of its baseline twin, the NL model
    holding the baseline's weights (its heads then see the same detections).

    Returns:
        dict: model name ("baseline", "NL") -> dict of "params", "backbone_flops", "flops",
        and "nl_flops" (the NL blocks' share).
    """
    torch.manual_seed(seed)
    models = {
        "baseline": build_any_model(baseline_twin(cfg)).eval(),
        "NL": build_any_model(cfg).eval(),
    }
    models["NL"].load_state_dict(models["baseline"].state_dict(), strict=False)
    image = torch.randint(0, 256, (3, height, width), dtype=torch.float32)
    inputs = [{"image": image.to(config_device(cfg)), "height": height, "width": width}]
    results = {}
    with torch.no_grad():
        for name, model in models.items():
            tensor = model.preprocess_image(inputs).tensor
            backbone = flop_count(model.backbone, (tensor,))
            nl_flops = sum(
                v
                for k, v in backbone.by_module().items()
                if k.split(".")[-1].startswith("nonlocal")
            )
            total = model_flop_count(model, inputs)
            nl_flops += sum(
                v
                for k, v in total.by_module().items()
                if k.startswith("roi_heads.") and k.split(".")[-1].startswith("nonlocal")
            )
            results[name] = {
                "params": num_parameters(model),
                "backbone_flops": backbone.total(),
                "flops": total.total(),
                "nl_flops": nl_flops,
            }
    return results
