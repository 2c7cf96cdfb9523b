# kerasviz_widget — the two commands of the README, and their parts.
#   make demo   set up, build, and open the quickstart in JupyterLab
#               (headless: with CI set or no DISPLAY, execute it and write build/quickstart.html)
#   make test   set up, build, lint, and run every test (Python, browser, front-end)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
BUNDLE := kerasviz_widget/static/widget.js
JS_SRC := $(wildcard js/src/*.js js/src/*.css)
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: demo test install lint pytest jstest bundle chromium clean

demo: install
ifneq ($(or $(CI),$(if $(DISPLAY),,headless)),)
	$(BIN)/jupyter nbconvert --to html --execute notebooks/quickstart.ipynb \
		--ExecutePreprocessor.timeout=900 --output-dir build
	@echo "Executed notebooks/quickstart.ipynb -> build/quickstart.html"
else
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/quickstart.ipynb
endif

test: install chromium lint pytest jstest

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

jstest: js/node_modules/.package-lock.json
	cd js && npm test

clean:
	rm -rf $(VENV) js/node_modules kerasviz_widget/static build
