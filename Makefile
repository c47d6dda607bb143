# Sales & Marketing, Connected — build, test and serve.
#
#   make test    model tests + strict book build (what CI runs via .ci/run)
#   make book    build the book into _build/html (warnings are errors)
#   make serve   build the book and serve it (and the Voila labs, once they exist) on 127.0.0.1
#   make bench   print benchmark results (`name value unit` lines)
#   make loadtest  100 lab pages opened and abandoned against voila.json as shipped (~10 min)
#   make hub     the labs on JupyterHub on 127.0.0.1, with logins: docs/deploy-hub.md
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

.PHONY: help venv .venv test test-model test-book test-notebooks test-browser test-pdf test-hub book pdf bench loadtest serve hub clean distclean

help:
	@echo "make test | book | pdf | serve | hub | bench | loadtest | clean | distclean"

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

# Debian packages a target needs, installed when missing: as root or with passwordless sudo;
# otherwise one line says what to run.
apt_install = @if [ "$$(id -u)" -eq 0 ]; then SUDO=; elif sudo -n true 2>/dev/null; then SUDO="sudo -n"; else echo "$(1) is missing: run 'sudo apt-get install -y $(1)', then make again" >&2; exit 1; fi; $$SUDO apt-get update -qq && $$SUDO apt-get install -y --no-install-recommends $(1)

# graphviz renders the framework diagrams (sphinx.ext.graphviz runs `dot`).
GRAPHVIZ := /usr/bin/dot
$(GRAPHVIZ):
	$(call apt_install,graphviz)

# Every target that launches a browser (browser tests, the print edition, the benchmarks, the load
# test) needs chromium and an Arial-metric font: the charts' static images are laid out by
# vl-convert with Arial metrics (smi_charts/theme.py), and a browser drawing them with a wider
# fallback font (DejaVu Sans, Debian's default) clips their labels.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	$(call apt_install,chromium)
FONTS := /usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf
$(FONTS):
	$(call apt_install,fonts-liberation)
BROWSER := $(CHROMIUM) $(FONTS)

# Java runs the Nu HTML Checker (npm vnu-jar, pinned in package.json) in test-browser.
JAVA := /usr/bin/java
$(JAVA):
	$(call apt_install,default-jre-headless)

# ---------------------------------------------------------------------------- tests
# Each group is its own target; `make -k test` runs every group and still fails if any fails.
#   test-book       strict build: warnings are errors, every chapter executed
#   test-model      model, data, explorable parity (pytest tests/, browser tests excluded)
#   test-notebooks  nbval over every notebook (chapters converted from MyST by jupytext)
#   test-browser    the built site and the Voila labs on 127.0.0.1, driven in headless Chromium;
#                   every page of the site is valid HTML (Nu HTML Checker)
#   test-pdf        the print edition: produced, every chapter, a fallback where each chart stands
#   test-hub        the labs through a real JupyterHub: logins, isolation, culling
test: test-book test-model test-notebooks test-browser test-pdf test-hub

# pytest exits 5 when it collects no tests: that is a failure here, never a pass.
PYTEST_STRICT = rc=0; $(PY) -m pytest $(1) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests in $(1) -- failing" >&2; fi; exit $$rc

test-model: $(STAMP) $(GRAPHVIZ)
	@$(call PYTEST_STRICT,tests/ --ignore=tests/browser --ignore=tests/print --ignore=tests/hub)

test-book: book

# nbval runs every cell of the notebooks the site offers for download (each chapter written as a
# MyST notebook, converted at build time) and of the Voila lab notebooks.
test-notebooks: book
	@n=$$(find _build/html/_notebooks -name '*.ipynb' | wc -l); [ $$n -gt 0 ] || { echo "no notebooks in the built site" >&2; exit 1; }
	@$(call PYTEST_STRICT,--nbval-lax -p no:cacheprovider _build/html/_notebooks widgets/labs)

# test-browser also needs $(NODE_MODULES) (the HTML checker): added below, where that is defined.
test-browser: book $(BROWSER) $(JAVA)
	@$(call PYTEST_STRICT,tests/browser)

test-pdf: pdf $(BROWSER)
	@$(call PYTEST_STRICT,tests/print)

# ---------------------------------------------------------------------------- book
book: $(STAMP) $(GRAPHVIZ)
	$(JB_BUILD) --warningiserror

# ---------------------------------------------------------------------------- print edition
# The whole book as one PDF, offline (route and reasons: scripts/build_pdf.py, README).
pdf: $(STAMP) $(GRAPHVIZ) $(BROWSER)
	$(PY) scripts/build_pdf.py

# ---------------------------------------------------------------------------- JupyterHub
# (merged from deploy/Makefile.snippet)
# configurable-http-proxy for the Hub and vnu-jar (the Nu HTML Checker, for test-browser), pinned by
# package.json + package-lock.json; reinstalled whenever either changes. Needs Node.js >= 20
# (package.json "engines"), not installed here. vnu-jar runs on Debian's Java ($(JAVA), installed
# first: vnu-jar's install script then finds it and downloads no JDK of its own).
NODE_MODULES := node_modules/.installed
$(NODE_MODULES): package.json package-lock.json | $(JAVA)
	@command -v npm >/dev/null || { echo "npm is missing: install Node.js 20 or later (with npm), then make again" >&2; exit 1; }
	npm ci --no-audit --no-fund
	touch $@
test-browser: $(NODE_MODULES)

# The labs for a whole school on one machine: JupyterHub on 127.0.0.1 (deploy/jupyterhub_config.py,
# docs/deploy-hub.md). Local run only: any user name logs in with the shared password in
# SMI_HUB_PASSWORD (a school uses its single sign-on). SMI_HUB_PORT (default 8010) and the other
# SMI_HUB_* settings: deploy/hub_settings.py. Ctrl-C stops the Hub and every student's server.
hub: $(STAMP) $(NODE_MODULES)
	@if [ -z "$${SMI_HUB_PASSWORD:-}" ] || [ "$${#SMI_HUB_PASSWORD}" -lt 8 ]; then \
	  echo "set SMI_HUB_PASSWORD (8+ characters), e.g. SMI_HUB_PASSWORD=\$$(openssl rand -hex 8) make hub" >&2; exit 2; fi
	@echo "JupyterHub: http://127.0.0.1:$${SMI_HUB_PORT:-8010}/ (log in with any name and SMI_HUB_PASSWORD)"
	$(VENV)/bin/jupyterhub -f deploy/jupyterhub_config.py

# The labs through a real Hub on 127.0.0.1 (~3-5 min on 2 cores): login, three students in
# Chromium, isolation between them, culling; and the local / Zero to JupyterHub configurations
# agree.
test-hub: $(STAMP) $(NODE_MODULES) $(BROWSER)
	@$(call PYTEST_STRICT,tests/hub)

# ---------------------------------------------------------------------------- bench
# bench_book rebuilds the book (graphviz) and drives Chromium; bench_voila drives Chromium;
# bench_hub starts JupyterHub (configurable-http-proxy from node_modules); bench_lighthouse runs
# Lighthouse (node_modules) on every page of the built book.
bench: $(STAMP) $(GRAPHVIZ) $(BROWSER) $(NODE_MODULES)
	$(PY) benchmarks/run.py

# Bounded (~10 minutes, loopback only): what it does and prints, benchmarks/loadtest.py.
loadtest: $(STAMP) $(BROWSER)
	$(PY) benchmarks/loadtest.py

# ---------------------------------------------------------------------------- serve
# For reading, a warning must not keep the book off screen: the serve build is not strict
# (`make test` is). serve.py prints the URLs and stops everything on Ctrl-C.
serve: $(STAMP) $(GRAPHVIZ)
	$(JB_BUILD)
	$(PY) scripts/serve.py

# ---------------------------------------------------------------------------- clean
clean:
	rm -rf _build .pytest_cache .hypothesis *.egg-info
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

# ---------------------------------------------------------------------------- debrief
# Class debrief from a folder of exported health checks (.json exports, .txt files of codes):
#   make debrief DIR=path/to/folder   ->  _build/debrief/index.html, summary.csv, firms.csv
.PHONY: debrief
debrief: $(STAMP)
	@if [ -z "$(DIR)" ]; then echo "usage: make debrief DIR=path/to/folder" >&2; exit 2; fi
	$(PY) scripts/debrief.py "$(DIR)" --out _build/debrief
