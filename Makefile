# kerasviz_widget — the two commands of the README, and their parts.
#   make demo   set up, build, and open the quickstart in JupyterLab
#               (headless: with CI set or no DISPLAY, execute it and write build/quickstart.html)
#   make test   set up, build, lint, and run every test (Python, browser, front-end)
# Other Keras backends, each in a virtual environment of its own (no TensorFlow in either):
#   make pytest-jax     the Python suite with KERAS_BACKEND=jax
#   make pytest-torch   the backend-facing tests with KERAS_BACKEND=torch, on the CPU build

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUNDLE := kerasviz_widget/static/widget.js
JS_SRC := $(wildcard js/src/*.js js/src/*.css)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# Three environments of a few GB each: keep no second copy of every wheel in pip's cache.
export PIP_NO_CACHE_DIR := 1

# What each extra backend runs; browser tests are left out there ("not browser").
# JAX: the Python suite but the TensorFlow-only parts (the notebooks' recipes use tf.GradientTape
# and TensorBoard, the site build needs the docs toolchain, tf.distribute strategies).
JAX_TESTS   ?= tests/backends tests/core tests/io tests/widget tests/test_layers.py \
               tests/test_recorder.py tests/test_docs.py::test_python_blocks_run_and_print_what_their_comments_say \
               tests/adversarial/test_contracts.py
TORCH_TESTS ?= tests/backends tests/core/test_extract.py tests/core/test_reduce.py \
               tests/core/test_display.py tests/core/test_history.py tests/core/test_session.py \
               tests/core/test_callback.py tests/test_recorder.py tests/adversarial/test_contracts.py
# PyTorch pinned to a version whose CPU build the tests use (an unpinned `pip install torch`
# on Linux pulls a CUDA build of several GB).
TORCH_PIN   ?= torch==2.13.0

.PHONY: demo test install lint pytest pytest-jax pytest-torch jstest bundle chromium clean

demo: install
ifneq ($(or $(CI),$(if $(DISPLAY),,headless)),)
	$(BIN)/jupyter nbconvert --to html --execute notebooks/quickstart.ipynb \
		--ExecutePreprocessor.timeout=900 --output-dir build
	@echo "Executed notebooks/quickstart.ipynb -> build/quickstart.html"
else
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/quickstart.ipynb
endif

test: install chromium lint pytest pytest-jax pytest-torch jstest

install: $(STAMP) $(BUNDLE)

$(STAMP): pyproject.toml $(BUNDLE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -e ".[dev]"
	touch $@

js/node_modules/.package-lock.json: js/package-lock.json
	cd js && npm ci --no-audit --no-fund

$(BUNDLE): js/node_modules/.package-lock.json $(JS_SRC)
	cd js && npm run build

bundle: $(BUNDLE)

# Browser tests drive Debian's Chromium (never a downloaded browser build).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	cd js && npm run lint

pytest: install
	$(BIN)/python -m pytest

# One virtual environment per extra backend: the package (editable) with the test tools and that
# backend only (the `test-tools` extra carries no backend).
.venv-jax/.installed: pyproject.toml $(BUNDLE)
	$(PYTHON) -m venv .venv-jax
	.venv-jax/bin/python -m pip install --upgrade pip
	.venv-jax/bin/python -m pip install "jax[cpu]" -e ".[jax,test-tools]"
	touch $@

.venv-torch/.installed: pyproject.toml $(BUNDLE)
	$(PYTHON) -m venv .venv-torch
	.venv-torch/bin/python -m pip install --upgrade pip
	.venv-torch/bin/python -m pip install "$(TORCH_PIN)" -e ".[torch,test-tools]"
	touch $@

pytest-jax: .venv-jax/.installed
	KERAS_BACKEND=jax .venv-jax/bin/python -m pytest -m "not browser" $(JAX_TESTS)

pytest-torch: .venv-torch/.installed
	KERAS_BACKEND=torch .venv-torch/bin/python -m pytest -m "not browser" $(TORCH_TESTS)

jstest: js/node_modules/.package-lock.json
	cd js && npm test

clean:
	rm -rf $(VENV) .venv-jax .venv-torch js/node_modules kerasviz_widget/static build
