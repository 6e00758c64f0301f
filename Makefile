# Two entry points for a fresh machine: `make train` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# TORCH=cpu installs PyTorch's CPU-only build (no CUDA libraries) into a new .venv: for a machine with no
# NVIDIA GPU. The default build (with CUDA) runs everywhere, on the CPU too, and is what CI installs.
TORCH ?= default
CPU_INDEX := https://download.pytorch.org/whl/cpu

.PHONY: train test test-browser test-notebooks-full gpu-check records notebooks clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
ifeq ($(TORCH),cpu)
	$(BIN)/python -m pip install --quiet --index-url $(CPU_INDEX) torch torchvision
else ifneq ($(TORCH),default)
	$(error TORCH must be cpu or default, got '$(TORCH)')
endif

# One stamp per extra, redone when pyproject.toml changes.
$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$*]"
	touch $@

$(VENV)/.installed-base: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

## Train the final model (step 4 recipe) and print its test accuracy and parameter count.
train: $(VENV)/.installed-base
	$(BIN)/python -m mnistlib train $(ARGS)

## Lint, the test suite (with each notebook run alone from a built wheel), then the notebooks under nbval,
## all in quick mode (MNISTLIB_FULL_TESTS=1 adds a full-length step-4 training).
test: $(VENV)/.installed-tests
	$(BIN)/ruff check .
	$(BIN)/python -m pytest
	MNISTLIB_QUICK=1 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

## Only the browser test: JupyterLab runs notebook 6 in quick mode and headless Chromium draws digits on its
## pad (needs the OS's Chromium: apt-get install chromium).
test-browser: $(VENV)/.installed-tests
	$(BIN)/python -m pytest -m browser tests/browser

## Run the notebooks at full length as regression tests (their stored full runs took about 40 minutes in all on 2 CPU cores).
test-notebooks-full: $(VENV)/.installed-tests
	MNISTLIB_QUICK=0 $(BIN)/python -m pytest --nbval-lax --nbval-current-env notebooks

## On a GPU machine whose Python already has PyTorch, torchvision, nbval and ipykernel (no .venv):
## the benchmark (time to 99.4% with the fast recipe), ten fresh seeds of step 4, and the notebooks
## at full length under nbval. ARGS=--claims adds the record seeds of every other claimed recipe.
gpu-check:
	PYTHONPATH=$(CURDIR)$${PYTHONPATH:+:$$PYTHONPATH} $(PYTHON) scripts/gpu_check.py $(ARGS)

## Re-run the committed seed records (results/) on the CPU; `make records ARGS=--notebooks` re-executes
## the notebooks at full length instead and refreshes the package's reference runs.
records: $(VENV)/.installed-tests
	$(BIN)/python -m mnistlib records $(ARGS)

## JupyterLab on the notebooks, in .venv.
notebooks: $(VENV)/.installed-notebooks
	$(BIN)/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
