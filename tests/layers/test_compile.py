"""Every block of the family, in every mode, compiles with torch.compile(fullgraph=True): no graph
break, and the compiled block computes what the eager one does, gradients included."""

import pytest
import torch

from nl_detectron.layers import MODES, build_block

CASES = [("nonlocal", {"mode": mode}) for mode in MODES]
CASES += [("nonlocal", {"impl": "naive"}), ("nonlocal", {"sub_sample": False})]
CASES += [("simplified", {}), ("gc", {}), ("disentangled", {})]


@pytest.mark.parametrize("block, settings", CASES, ids=lambda v: str(v))
def test_block_compiles_without_a_graph_break(block, settings):
    torch._dynamo.reset()
    torch.manual_seed(0)
    module = build_block(32, block=block, **settings)
    with torch.no_grad():  # off the identity it starts as, so that every branch counts
        for p in module.parameters():
            p.normal_(std=0.1)
    x = torch.randn(2, 32, 6, 8, requires_grad=True)
    # the "eager" backend runs what dynamo traced: fullgraph=True raises at any graph break
    compiled = torch.compile(module, backend="eager", fullgraph=True)
    y = compiled(x)
    (grad_compiled,) = torch.autograd.grad(y.square().sum(), x)
    y_eager = module(x)
    (grad_eager,) = torch.autograd.grad(y_eager.square().sum(), x)
    torch.testing.assert_close(y, y_eager)
    torch.testing.assert_close(grad_compiled, grad_eager)
