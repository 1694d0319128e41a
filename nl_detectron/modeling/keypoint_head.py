"""
detectron2's keypoint head with NL blocks between its convs, as in the paper's Table 6 (4 blocks
in the 8-conv head, one after every 2 convs). Existing modules keep their names
(``conv_fcn1`` ... ``conv_fcn8``, ``score_lowres``), so baseline keypoint checkpoints load.
"""

from detectron2.config import configurable
from detectron2.modeling.roi_heads.keypoint_head import (
    ROI_KEYPOINT_HEAD_REGISTRY,
    KRCNNConvDeconvUpsampleHead,
)

from ..layers import build_block
from .backbone import nonlocal_block_kwargs


@ROI_KEYPOINT_HEAD_REGISTRY.register()
class KRCNNConvDeconvUpsampleNLHead(KRCNNConvDeconvUpsampleHead):
    """
    ``KRCNNConvDeconvUpsampleHead`` with an NL block after each conv (and its ReLU) listed in
    ``nonlocal_after_convs``; the blocks are named ``nonlocal_fcn{k}``.
    """

    @configurable
    def __init__(
        self,
        input_shape,
        *,
        num_keypoints,
        conv_dims,
        nonlocal_after_convs=(),
        nonlocal_kwargs=None,
        **kwargs,
    ):
        """
        Args:
            nonlocal_after_convs (list[int]): 1-based indices k of the convs ``conv_fcn{k}``
                followed by an NL block.
            nonlocal_kwargs (dict): keyword arguments of ``build_block`` (the family's block).
            Others: as ``KRCNNConvDeconvUpsampleHead``.
        """
        super().__init__(input_shape, num_keypoints=num_keypoints, conv_dims=conv_dims, **kwargs)
        after = list(nonlocal_after_convs)
        key = "MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS"
        for k in after:
            if not isinstance(k, int) or not 1 <= k <= len(conv_dims):
                raise ValueError(
                    f"{key}: conv index {k!r} is out of range; the head has convs conv_fcn1 to "
                    f"conv_fcn{len(conv_dims)} (MODEL.ROI_KEYPOINT_HEAD.CONV_DIMS)"
                )
        if len(set(after)) != len(after):
            raise ValueError(f"{key}: {after} names the same conv twice")
        self.nonlocal_after_convs = sorted(after)
        for k in self.nonlocal_after_convs:
            self.add_module(
                f"nonlocal_fcn{k}", build_block(conv_dims[k - 1], **(nonlocal_kwargs or {}))
            )

    def __iter__(self):
        """
        The head's layers in the order its ``layers`` runs them (detectron2's ``layers`` iterates
        over the head): each NL block right after its conv's ReLU.
        """
        for name, module in self.named_children():
            if name.startswith("nonlocal_fcn"):
                continue
            yield module
            if name.startswith("conv_fcn_relu"):
                k = int(name[len("conv_fcn_relu") :])
                if k in self.nonlocal_after_convs:
                    yield getattr(self, f"nonlocal_fcn{k}")

    @classmethod
    def from_config(cls, cfg, input_shape):
        ret = super().from_config(cfg, input_shape)
        ret["nonlocal_after_convs"] = list(cfg.MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS)
        ret["nonlocal_kwargs"] = nonlocal_block_kwargs(cfg)
        return ret


# The registered NL keypoint heads, each with detectron2's head it extends (its baseline twin).
NL_KEYPOINT_HEADS = {"KRCNNConvDeconvUpsampleNLHead": "KRCNNConvDeconvUpsampleHead"}
