"""The insertion benchmark (benchmarks/insertion.py): a block inserted into a trained baseline
grows from zero under the shipped default, and the measure tells an init that does not."""

import pytest

from nl_detectron.config import load_config
from nl_detectron.engine import Trainer
from nl_detectron.layers.settings import DEFAULTS
from tests.helpers import DEMO_CONFIG, load_script

insertion = load_script("benchmarks/insertion.py")

FAST_CONFIG = DEMO_CONFIG
# The fast demo on its 60 validation images at its own 96 pixels and 50 warm-up iterations.
SHORT = ["DATASETS.TEST", "('nl_demo_shapes_val',)", "SOLVER.MAX_ITER", "50", "SEED", "1"]


@pytest.fixture(scope="module")
def trained_baseline(tmp_path_factory):
    """The fast demo's baseline twin trained for 100 iterations: features the block is added to
    that are no longer random."""
    out = tmp_path_factory.mktemp("baseline")
    cfg = load_config(
        FAST_CONFIG,
        ["MODEL.BACKBONE.NAME", "build_resnet_fpn_backbone", "SOLVER.MAX_ITER", "100"]
        + ["OUTPUT_DIR", str(out), "TEST.EVAL_PERIOD", "0", "DATASETS.TEST", "()", "SEED", "1"],
    )
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    trainer.train()
    return str(out / "model_final.pth")


def largest_term(result, iteration):
    return max(result["terms"][iteration].values())


@pytest.mark.slow
def test_the_shipped_default_grows_from_zero_after_insertion(trained_baseline):
    result = insertion.insert_and_train(FAST_CONFIG, trained_baseline, SHORT, terms_at=(1, 50))
    assert largest_term(result, 50) <= 1e-2, (DEFAULTS, result["terms"])


@pytest.mark.slow
def test_gn_with_its_scale_at_one_outgrows_the_bound(trained_baseline):
    """The measure can fail: GN, its scale at 1 and W_z at zero, adds a term of about the
    features' size within the warm-up."""
    opts = [*SHORT, *insertion.row_opts("GN, scale 1, W_z 0")]
    result = insertion.insert_and_train(FAST_CONFIG, trained_baseline, opts, terms_at=(1, 50))
    assert largest_term(result, 1) < 1e-2 < 0.1 < largest_term(result, 50), result["terms"]


def test_every_row_names_the_norm_and_its_initial_scale():
    for name in insertion.INSERTION_ROWS:
        keys = insertion.row_opts(name)[::2]
        assert keys == [
            "MODEL.NONLOCAL.NORM",
            "MODEL.NONLOCAL.NORM_AT",
            "MODEL.NONLOCAL.NORM_INIT_SCALE",
        ], name
