# Two entry points: `make demo` and `make test`. Both create or reuse .venv and install
# what they need: torch first, pinned (a looser requirement would pull a multi-GB CUDA
# build onto a machine without torch), then the project with its extras.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.rnnkit-installed
TORCH  ?= torch==2.13.0

.PHONY: demo test docs wheel-check parity bench-speed keras-venv install system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[demo,timeseries,text,music,seq2seq,speech,tune,video,onnx,serve,vectors,dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnkit demo

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2

# The documentation site (site/): strict, so a warning, a broken link or a missing reference fails it;
# the tutorials (docs/tutorials/*.py, jupytext) are executed as it builds. CI builds it.
DOCS_STAMP := $(VENV)/.rnnkit-docs-installed
$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The wheel as a user gets it: built with pip, installed (with torch, pinned) in a fresh virtualenv,
# run from an empty folder: the presets and the kernels' source must travel inside it. CI runs this once.
WHEEL_DIR := build/wheel-check
wheel-check: $(STAMP)
	rm -rf $(WHEEL_DIR) && mkdir -p $(WHEEL_DIR)/empty
	$(BIN)/python -m pip wheel --quiet --disable-pip-version-check --no-deps -w $(WHEEL_DIR) .
	$(PYTHON) -m venv $(WHEEL_DIR)/venv
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet --disable-pip-version-check $(TORCH)
	$(WHEEL_DIR)/venv/bin/python -m pip install --quiet --disable-pip-version-check $(WHEEL_DIR)/rnnkit-*.whl
	cd $(WHEEL_DIR)/empty && ../venv/bin/rnnkit presets
	cd $(WHEEL_DIR)/empty && ../venv/bin/rnnkit train adding --set train.steps=20 --set train.progress=false
	cd $(WHEEL_DIR)/empty && ../venv/bin/python -c "from rnnkit.functional import kernels; print('kernel source in the wheel:', kernels.SOURCE.exists())"
	cd $(WHEEL_DIR)/empty && ../venv/bin/python -c "import importlib.resources as r; assert r.files('rnnkit').joinpath('py.typed').is_file(), 'py.typed is not in the wheel'"
	cd $(WHEEL_DIR)/empty && ../venv/bin/python -c "import importlib.resources as r; assert r.files('rnnkit').joinpath('serve/page/page.js').is_file(), 'the serve page is not in the wheel'"
	rm -rf $(WHEEL_DIR)

# Debian packages of the real data sets that no Python package carries: espeak-ng and sox (the
# spoken digits of configs/speech-digits.yaml), diatheke and two SWORD Bibles (translate-bible), and
# redis-server (the tests of rnnkit serve's sessions kept in Redis), chromium (the browser test of
# rnnkit serve's page, driven by Playwright: its own browser download is not on the package registries).
SYSTEM_PACKAGES := espeak-ng sox diatheke sword-text-kjv sword-text-sparv redis-server chromium
system-deps:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES)

parity: $(STAMP)
	$(BIN)/python benchmarks/parity.py

# Keras 3 on JAX for the speed comparison, in its own virtualenv (it must not share torch's).
KERAS_VENV := benchmarks/.venv-keras
$(KERAS_VENV)/bin/python:
	$(PYTHON) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'keras>=3' 'jax[cpu]'

keras-venv: $(KERAS_VENV)/bin/python

bench-speed: $(STAMP) keras-venv
	$(BIN)/python benchmarks/speed.py --keras-python $(KERAS_VENV)/bin/python

clean:
	rm -rf $(VENV) build site *.egg-info
