from detectron2.config import CfgNode as CN


def add_nonlocal_config(cfg):
    """
    Add the ``MODEL.NONLOCAL`` keys to ``cfg`` in place (a detectron2 ``CfgNode`` from
    ``get_cfg()``). detectron2's global defaults are not changed.

    The keys are read only by nl_detectron's registered backbones (``*_nl_backbone``); their
    defaults are the paper's COCO setting, so switching ``MODEL.BACKBONE.NAME`` alone gives it.
    """
    cfg.MODEL.NONLOCAL = CN()
    # Pairwise function f: "embedded_gaussian" (paper's default), "gaussian", "dot_product",
    # "concatenation".
    cfg.MODEL.NONLOCAL.MODE = "embedded_gaussian"
    # Channels of theta, phi and g. None: half of the block's input channels, as in the paper.
    cfg.MODEL.NONLOCAL.INTER_CHANNELS = None
    # 2x2 max-pool subsampling of the phi and g paths (paper, Sec. 3.3).
    cfg.MODEL.NONLOCAL.SUB_SAMPLE = True
    # Norm after W_z, whose scale starts at zero so the block starts as the identity. The paper
    # used BN (video, large batches); detection trains with about 2 images per GPU, where batch
    # statistics are poor, so GN (batch-independent, detectron2's choice for training with small
    # batches) is the default. "" means no norm, with W_z itself initialised to zero.
    cfg.MODEL.NONLOCAL.NORM = "GN"
    # Scale theta_i . phi_j by 1/sqrt(inter_channels) before the softmax (official code's
    # USE_SCALE); off in the paper.
    cfg.MODEL.NONLOCAL.USE_SCALE = False
    # "fast" (no N x N matrix kept where the mode allows it) or "naive" (the formula as written).
    cfg.MODEL.NONLOCAL.IMPL = "fast"
    # Per ResNet stage, the indices of the residual blocks that get an NL block right after them.
    # Negative indices count from the end of the stage. The paper's COCO setting: one block right
    # before the last residual block of res4, i.e. after block -2. Its 5-block variant (3 in
    # res4, 2 in res3, on alternate blocks): RES3: [1, 3], RES4: [1, 3, 5].
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS = CN()
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES2 = []
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES3 = []
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES4 = [-2]
    cfg.MODEL.NONLOCAL.AFTER_BLOCKS.RES5 = []
    # For ROI_KEYPOINT_HEAD.NAME "KRCNNConvDeconvUpsampleNLHead": the 1-based indices k of the
    # head's convs (conv_fcn{k}) that get an NL block after them. The paper's Table 6: 4 blocks in
    # the 8-conv head, one after every 2 convs. The other MODEL.NONLOCAL keys apply there too.
    cfg.MODEL.NONLOCAL.KEYPOINT_HEAD_AFTER_CONVS = [2, 4, 6, 8]
