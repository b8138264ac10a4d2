# neuralblitz_lab — every target installs what it needs into .venv first.
#   make reproduce   regenerate every figure/table of PROFILE (default: small) with papermill
#   make test        export drift check, notebook tests (nbdev_test), integration tests (pytest)
#   make lab         JupyterLab on nbs/ with the registered `neuralblitz_lab` kernel
#   make docs        render the docs site into _docs/
#   make bench       run the benchmarks in bench/ (--quick)
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# The local CPU build; override (e.g. TORCH_SPEC=torch) on a machine that lacks its wheel.
TORCH_SPEC ?= torch==2.13.0
PROFILE ?= small
# multipers (two-parameter persistence) without its optional deps: pykeops and filtration-domination only
# speed up what we do not use, and the latter builds from source. 2.3.2 is the last cp311 wheel; it needs
# gudhi 3.11 (with gudhi 3.13 SimplexTreeMulti segfaults), pinned in settings.ini.
MULTIPERS_SPEC ?= multipers==2.3.2
# The K-FAC reference of the curvature tests (curvlinops' KFAC linear operator) and what it needs, without dependency
# resolution: backpack-for-pytorch requires torchvision, and PyPI's torchvision would replace the local torch build.
CURVATURE_SPEC ?= curvlinops-for-pytorch==3.0.1 backpack-for-pytorch==1.7.1 einops==0.8.2 opt-einsum==3.4.0 \
	unfoldNd==0.2.3 einconv==0.1.0 linear-operator==0.6.1
STAMP := $(VENV)/.nblab-installed
# pip's offline mirror config prints one harmless warning per package; keep the log readable.
QUIET_PIP := grep -v "is ignored: it is neither a file nor a directory" || true

.PHONY: install reproduce test lab docs bench export clean

install: $(STAMP)

$(STAMP): settings.ini setup.py
	@echo "==> environment: $(VENV) ($$($(PYTHON) --version))"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@start=$$(date +%s); \
	$(BIN)/python -m pip install -q --disable-pip-version-check "$(TORCH_SPEC)" 2>&1 | $(QUIET_PIP); \
	$(BIN)/python -m pip install -q --disable-pip-version-check -e ".[dev]" 2>&1 | $(QUIET_PIP); \
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps "$(MULTIPERS_SPEC)" 2>&1 | $(QUIET_PIP); \
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps $(CURVATURE_SPEC) 2>&1 | $(QUIET_PIP); \
	echo "==> python packages installed in $$(( $$(date +%s) - start )) s"
	@$(MAKE) --no-print-directory chromium
	@$(BIN)/python -m ipykernel install --sys-prefix --name neuralblitz_lab \
		--display-name "neuralblitz_lab (.venv)" >/dev/null
	@echo "==> jupyter kernel 'neuralblitz_lab' registered in $(VENV)"
	@touch $(STAMP)

# kaleido 1.x exports PNG through a local Chromium; without it figures are saved as HTML only.
.PHONY: chromium
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "==> chromium: $$(command -v chromium) (PNG export enabled)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "==> installing Debian chromium for PNG export"; \
		(apt-get install -y -q chromium >/dev/null 2>&1 || (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q chromium >/dev/null 2>&1)) \
		|| echo "!! apt-get could not install chromium; figures will be HTML only (fix: sudo apt-get install chromium)"; \
	else \
		echo "!! chromium not found and not root: figures will be HTML only (fix: sudo apt-get install chromium)"; \
	fi

reproduce: $(STAMP)
	$(BIN)/nblab reproduce --profile $(PROFILE)

export: $(STAMP)
	$(BIN)/nbdev_export

test: $(STAMP)
	@start=$$(date +%s); \
	echo "==> notebook tests (nbdev_test)"; \
	OMP_NUM_THREADS=1 TRITON_INTERPRET=1 $(BIN)/nbdev_test --n_workers 2; \
	echo "==> integration tests (pytest)"; \
	TRITON_INTERPRET=1 $(BIN)/python -m pytest tests -ra; \
	echo "==> make test finished in $$(( $$(date +%s) - start )) s"

lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=nbs

docs: $(STAMP)
	$(BIN)/python docs/build_docs.py --out _docs

bench: $(STAMP)
	@for b in bench/[!_]*.py; do echo "==> $$b"; $(BIN)/python $$b --quick; done

clean:
	rm -rf _docs _docs_src _proc .pytest_cache
