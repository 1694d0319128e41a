"""
docs/results.json holds each figure that several pages state, once: every statement it lists,
filled with its figures, is in its page (whitespace aside), every figure is stated and names a
measuring page that exists, the paper's differences are those of its numbers, and the block
costs are what the code counts. A figure changed in one page only fails here.
"""

import json
import os
import re

import pytest
import torch

from detectron2.modeling import build_backbone

from nl_detectron.analysis import flop_count, num_parameters
from nl_detectron.layers import GlobalContextBlock2d, build_block
from nl_detectron.model_zoo import get_config
from tests.helpers import REPO_ROOT, load_script

with open(os.path.join(REPO_ROOT, "docs", "results.json")) as f:
    RESULTS = json.load(f)
FIGURES = {name: figure["value"] for name, figure in RESULTS["figures"].items()}
FIELD = re.compile(r"{(\w+)")


def _signed(value):
    return f"{value:+.1f}"


def _difference(minuend, subtrahend):
    """'+1.0 / +0.9' for box / mask pairs, '+1.4' for one number."""
    if isinstance(minuend, list):
        return " / ".join(_signed(a - b) for a, b in zip(minuend, subtrahend))
    return _signed(minuend - subtrahend)


# the figures and the differences derived from them, by name
VALUES = {
    **FIGURES,
    **{
        name: _difference(FIGURES[minuend], FIGURES[subtrahend])
        for name, (minuend, subtrahend) in RESULTS["differences"].items()
    },
}


def _normalized(text):
    return " ".join(text.split())


STATEMENTS = [
    (page, template) for page, templates in RESULTS["statements"].items() for template in templates
]


@pytest.mark.parametrize("page, template", STATEMENTS)
def test_each_statement_is_in_its_page_with_the_files_figures(page, template):
    with open(os.path.join(REPO_ROOT, page)) as f:
        text = _normalized(f.read())
    statement = _normalized(template.format(**VALUES))
    assert statement in text, f"{page} does not state, as docs/results.json says: {statement}"


def test_every_figure_is_stated_and_names_where_it_was_measured():
    used = {field for _, template in STATEMENTS for field in FIELD.findall(template)}
    for minuend, subtrahend in RESULTS["differences"].values():
        used |= {minuend, subtrahend}
    assert set(FIGURES) <= used, f"figures no page states: {sorted(set(FIGURES) - used)}"
    for name, figure in RESULTS["figures"].items():
        page = figure["measured"].split("#")[0].split(" ")[0]
        if page.startswith(("docs/", "tests/")):
            assert os.path.exists(os.path.join(REPO_ROOT, page)), (name, page)


def test_the_block_costs_are_what_the_code_counts():
    """Params and GMACs of one block on res4 of 800x1216 with benchmarks/bench_family.py's
    settings, and the params of the 13 GC blocks that the R50 GC configs insert."""
    bench_family = load_script("benchmarks/bench_family.py")
    x = torch.zeros(1, bench_family.CHANNELS, bench_family.HEIGHT, bench_family.WIDTH)
    keys = {"NL": "nl", "SNL": "snl", "GC r4": "gc_r4", "GC r16": "gc_r16", "DNL": "dnl"}
    for name, settings in bench_family.BLOCKS.items():
        block = build_block(bench_family.CHANNELS, **settings).eval()
        params = num_parameters(block) / 1e6
        with torch.no_grad():
            gmacs = flop_count(block, (x,)).total() / 1e9
        assert round(params, 3) == FIGURES[f"{keys[name]}_params"], name
        gmacs_figure = FIGURES["gc_gmacs" if name.startswith("GC") else f"{keys[name]}_gmacs"]
        assert round(gmacs, 3) == gmacs_figure, name
    for ratio in (4, 16):
        cfg = get_config(f"mask_rcnn_R50_GC_r{ratio}.yaml")
        cfg.MODEL.DEVICE = "cpu"
        blocks = [m for m in build_backbone(cfg).modules() if isinstance(m, GlobalContextBlock2d)]
        assert len(blocks) == 13, ratio
        total = sum(num_parameters(block) for block in blocks) / 1e6
        assert round(total, 1) == FIGURES[f"gc_r{ratio}_configs_params"], ratio
