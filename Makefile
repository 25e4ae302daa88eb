# `make report`: the whole pipeline on the default config (synthetic data).
# `make test`:   the test suite (unit, R reference, workflow end-to-end).
# `make notebooks`: JupyterLab on the analyst notebooks.
# Both create .venv and install the pinned dependencies the first time only.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CORES  ?= 2

.PHONY: report test lint bench notebooks clean

$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[dev]"
	touch $(STAMP)

report: $(STAMP)
	$(BIN)/neacovid run --cores $(CORES)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q -n $(CORES) --dist loadgroup

# JupyterLab on notebooks/: the pinned Lab in an environment of its own (.venv-lab: its
# ~40 packages stay out of the analysis environment), the kernel is .venv's Python.
LAB       := .venv-lab
LAB_STAMP := $(LAB)/.installed

$(LAB_STAMP): requirements.lock $(STAMP)
	test -x $(LAB)/bin/python || $(PYTHON) -m venv $(LAB)
	$(LAB)/bin/python -m pip install --quiet --upgrade "pip>=24"
	$(LAB)/bin/python -m pip install --quiet -c requirements.lock "jupyterlab==4.6.6"
	$(BIN)/python -m ipykernel install --prefix $(LAB) --name python3 --display-name "Python 3 (neacovid)"
	touch $(LAB_STAMP)

notebooks: $(LAB_STAMP)
	$(BIN)/neacovid notebooks

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -c requirements.lock -e ".[bench]"
	$(BIN)/python bench/estimate.py
	$(BIN)/python bench/compare.py
	$(BIN)/python bench/models.py
	$(BIN)/python bench/coverage.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/suite.py --cores $(CORES)
	$(BIN)/python bench/reader.py

clean:
	rm -rf results .snakemake
