# Sales & Marketing, Connected — build, test and serve.
#
#   make test    model tests + strict book build (what CI runs via .ci/run)
#   make book    build the book into _build/html (warnings are errors)
#   make serve   build the book and serve it (and the Voila labs, once they exist) on 127.0.0.1
#   make bench   print benchmark results (`name value unit` lines)
#   make clean   remove build output and caches (keeps .venv); `make distclean` also removes .venv
#
# Everything runs inside .venv, created on first use from requirements.txt (pinned) plus an
# editable install of the `smi` package from pyproject.toml.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# Tools launched by our tools (notebook kernels, jupyter-book, voila) must come from the venv.
export PATH := $(abspath $(VENV)/bin):$(PATH)

# `--all` rebuilds every page: an incremental Sphinx build does not re-read unchanged pages and
# would silently drop their warnings, so a strict build must always be a full one.
JB_BUILD := $(VENV)/bin/jupyter-book build . --all --keep-going

.PHONY: help venv .venv test test-model test-book book bench serve clean distclean

help:
	@echo "make test | book | serve | bench | clean | distclean"

# ---------------------------------------------------------------------------- environment
venv .venv: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip

# Reinstall whenever the pinned requirements or the package metadata change.
$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -r requirements.txt
	$(PY) -m pip install -e . --no-deps
	touch $@

# ---------------------------------------------------------------------------- tests
# Each group is its own target; `make -k test` runs every group and still fails if any fails.
test: test-model test-book

# pytest exits 5 when it collects no tests: that is a failure here, never a pass.
test-model: $(STAMP)
	@rc=0; $(PY) -m pytest tests/ || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "test-model: pytest collected no tests in tests/ -- failing" >&2; fi; \
	exit $$rc

test-book: book

# ---------------------------------------------------------------------------- book
book: $(STAMP)
	$(JB_BUILD) --warningiserror

# ---------------------------------------------------------------------------- bench
bench: $(STAMP)
	$(PY) benchmarks/run.py

# ---------------------------------------------------------------------------- serve
# For reading, a warning must not keep the book off screen: the serve build is not strict
# (`make test` is). serve.py prints the URLs and stops everything on Ctrl-C.
serve: $(STAMP)
	$(JB_BUILD)
	$(PY) scripts/serve.py

# ---------------------------------------------------------------------------- clean
clean:
	rm -rf _build .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)
