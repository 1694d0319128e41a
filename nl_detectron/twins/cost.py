"""Parameters and FLOPs of an NL model beside its baseline twin's."""

import torch

from detectron2.config import instantiate
from detectron2.modeling import build_model

from ..analysis.flops import flop_count, model_flop_count, num_parameters
from ..config import is_lazy
from .configs import baseline_twin


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
