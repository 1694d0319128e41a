# The two commands of README.md: `make demo` and `make test`. Both set up the active interpreter
# first (idempotent; seconds when everything is already there).
PYTHON ?= python3
DEMO_CONFIG := configs/demo/mask_rcnn_R50_NL_shapes.yaml
DEMO_OUTPUT ?= output/demo
FAST_CONFIG := configs/demo/mask_rcnn_R18_NL_fast.yaml
FAST_OUTPUT ?= output/demo_fast

.PHONY: setup demo demo-fast test test-fast lint

setup:
	$(PYTHON) tools/setup_env.py

demo: setup
	$(PYTHON) tools/train_net.py --config-file $(DEMO_CONFIG) OUTPUT_DIR $(DEMO_OUTPUT)
	$(PYTHON) tools/demo.py --config-file $(DEMO_CONFIG) \
		--input "datasets/nl_demo_shapes/val/*.png" --output $(DEMO_OUTPUT)/predictions \
		MODEL.WEIGHTS $(DEMO_OUTPUT)/model_final.pth
	$(PYTHON) tools/expected_range.py --config-file $(DEMO_CONFIG) \
		--report $(DEMO_OUTPUT)/eval_report.json

# The fast demo: R18, 96-pixel images, under 3 minutes on 2 cores (docs/demo.md).
demo-fast: setup
	$(PYTHON) tools/train_net.py --config-file $(FAST_CONFIG) OUTPUT_DIR $(FAST_OUTPUT)
	$(PYTHON) tools/expected_range.py --config-file $(FAST_CONFIG) \
		--report $(FAST_OUTPUT)/eval_report.json

# Two pytest-xdist workers, a test file each at a time (a file's trained models are built once);
# conftest.py splits the cores between them. TEST_WORKERS=0 runs the suite in one process.
TEST_WORKERS ?= 2

test: setup
	$(PYTHON) -m pytest tests -q -ra --durations=15 -n $(TEST_WORKERS) --dist loadfile

# Development: the suite without the end-to-end runs marked slow (seconds to a minute).
test-fast: setup
	$(PYTHON) -m pytest tests -q -ra -m "not slow" -n $(TEST_WORKERS) --dist loadfile

# House style: ruff's lint and its formatter (black at 100 columns, isort), config in ruff.toml.
lint: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
