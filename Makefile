# The two commands of README.md: `make demo` and `make test`. Both set up the active interpreter
# first (idempotent; seconds when everything is already there).
PYTHON ?= python3
DEMO_CONFIG := configs/demo/mask_rcnn_R50_NL_shapes.yaml
DEMO_OUTPUT ?= output/demo

.PHONY: setup demo test test-fast lint

setup:
	$(PYTHON) tools/setup_env.py

demo: setup
	$(PYTHON) tools/train_net.py --config-file $(DEMO_CONFIG) OUTPUT_DIR $(DEMO_OUTPUT)
	$(PYTHON) tools/demo.py --config-file $(DEMO_CONFIG) \
		--input "datasets/nl_demo_shapes/val/*.png" --output $(DEMO_OUTPUT)/predictions \
		MODEL.WEIGHTS $(DEMO_OUTPUT)/model_final.pth

test: setup
	$(PYTHON) -m pytest tests -q -ra

# Development: the suite without the end-to-end runs marked slow (seconds to a minute).
test-fast: setup
	$(PYTHON) -m pytest tests -q -ra -m "not slow"

# House style: ruff's lint and its formatter (black at 100 columns, isort), config in ruff.toml.
lint: setup
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .
