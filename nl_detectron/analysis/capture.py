"""
One capture of what a model's blocks of the family see, for the viewer, the attention maps, the
attention statistics and the relational attention measure.
"""

import torch

from ..layers import AttentionBlock


def family_blocks(model, prefix=""):
    """{name: block} of the model's blocks of the family whose name starts with ``prefix``
    ("backbone." for those that see the whole image)."""
    return {
        n: m
        for n, m in model.named_modules()
        if isinstance(m, AttentionBlock) and n.startswith(prefix)
    }


class BlockCapture:
    """
    Forward hooks on a model's blocks of the family. After a forward pass:

    - ``calls[name]``: (input (N, C, H, W), output (N, C, H, W)) of the block's last call;
    - ``input_size``: (H, W) of the backbone's padded input (a model with a ``backbone``);
    - ``rois``: (R, 4) the boxes the keypoint head's RoIs were pooled from (resized-input
      pixels), in the order of its blocks' batch, before post-processing drops any (inference).

    ``on_call(name, block, x, output)``, when given, sees every call (the keypoint head's blocks
    are called once per image batch).
    """

    def __init__(self, model, *, prefix="", names=None, on_call=None):
        """
        Args:
            prefix (str): capture the blocks whose name starts with it (``family_blocks``).
            names (list[str] or None): capture only these blocks, refused if the model has none
                of that name.
        """
        blocks = family_blocks(model, prefix)
        if not blocks:
            where = f" whose name starts with {prefix!r}" if prefix else ""
            raise ValueError(f"this model has no block of the non-local family{where}")
        if names is not None:
            missing = [n for n in names if n not in blocks]
            if missing:
                raise ValueError(f"no NL block {missing[0]!r} in the model; blocks: {list(blocks)}")
            blocks = {n: blocks[n] for n in names}
        self.blocks = blocks
        self.on_call = on_call
        self.calls, self.input_size, self.rois = {}, None, None
        self._handles = [block.register_forward_hook(self._hook(n)) for n, block in blocks.items()]
        backbone = getattr(model, "backbone", None)
        if backbone is not None:
            self._handles.append(backbone.register_forward_pre_hook(self._input_hook))
        head = getattr(getattr(model, "roi_heads", None), "keypoint_head", None)
        if head is not None:
            self._handles.append(head.register_forward_pre_hook(self._rois_hook))

    def _hook(self, name):
        def hook(block, args, output):
            x, output = args[0].detach(), output.detach()
            self.calls[name] = (x, output)
            if self.on_call is not None:
                self.on_call(name, block, x, output)

        return hook

    def _input_hook(self, module, args):
        self.input_size = tuple(args[0].shape[-2:])

    def _rois_hook(self, module, args):
        if not module.training:  # in training its instances hold proposals, not predictions
            self.rois = torch.cat([i.pred_boxes.tensor for i in args[1]]).detach()

    def remove(self):
        for handle in self._handles:
            handle.remove()
