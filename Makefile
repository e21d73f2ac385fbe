# Two commands: `make dev` (set up, then run the sample app locally) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
APP ?= examples/hello

.PHONY: setup dev test lint bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,cdk]'
	touch $@

dev: setup
	@echo '$$ units invoke app:greet "\"ada\"" --app $(APP)'
	@$(BIN)/units invoke app:greet '"ada"' --app $(APP)
	@echo '$$ units invoke app:greet_many "[\"ada\",\"grace\"]" --app $(APP)'
	@$(BIN)/units invoke app:greet_many '["ada","grace"]' --app $(APP)
	@echo '$$ units invoke --event events/hello-get.json --app $(APP)'
	@$(BIN)/units invoke --event events/hello-get.json --app $(APP)

test: setup lint
	$(BIN)/pytest

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV)
