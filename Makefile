# Single entry point. Every target installs what is missing first (tools/install.sh, into .venv/),
# and is quick when everything is already installed.
PY := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: install lint test demo clean-demo

install:
	@bash tools/install.sh

lint: install
	.venv/bin/ruff check .

test: install
	$(PY) -m pytest -q $(PYTEST_ARGS) tests

demo: install
	$(PY) tools/demo.py

clean-demo:
	rm -rf work_dirs/demo data/demo_synthetic
