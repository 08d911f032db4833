# Set-up and everyday commands. Each target creates the virtual environment and installs what it
# needs on first use, so `make demo` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
# The PyTorch build to install first (override on machines with other wheels, e.g. TORCH="torch").
TORCH ?= torch==2.14.1 torchvision==0.29.1
BIN := $(VENV)/bin

.PHONY: demo serve test lint format bench browser clean

$(BIN)/suny-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test,serve]'
	touch $@

## demo: explain the sample cat photo with EfficientNet-Lite0 (SUNY-feature and SUNY-filter) into runs/demo
demo: $(BIN)/suny-installed
	$(BIN)/suny explain --out runs/demo --precision auto
	@echo "open runs/demo/chelsea/index.html"

## serve: explore explanations in the browser (suny serve, http://127.0.0.1:8000/; options: make serve ARGS="--folder photos")
serve: $(BIN)/suny-installed
	$(BIN)/suny serve $(ARGS)

## test: the whole test suite (installs Chromium for the report's browser test when apt-get is there)
test: $(BIN)/suny-installed browser
	$(BIN)/python -m pytest -q

browser:
	@command -v chromium >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; } || \
		echo "could not install chromium: the browser test will be skipped"

lint: $(BIN)/suny-installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m mypy

format: $(BIN)/suny-installed
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

## bench: the speed benchmarks (see benchmarks/README.md)
bench: $(BIN)/suny-installed
	$(BIN)/python benchmarks/bench_suny.py

clean:
	rm -rf $(VENV) runs build *.egg-info
