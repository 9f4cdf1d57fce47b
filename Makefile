# The project's tasks. Everything runs through uv and the committed lock file.
UV ?= python3 -m uv

.PHONY: install demo test test-all lint format bench
install:
	$(UV) sync --locked
demo:
	$(UV) run --locked bsg-analytics demo
test:
	$(UV) run --locked pytest
test-all:
	$(UV) run --locked pytest
	$(UV) run --locked pytest -m slow -n 0
lint:
	$(UV) run --locked ruff check .
	$(UV) run --locked ruff format --check .
	$(UV) run --locked lint-imports
	$(UV) run --locked mypy
format:
	$(UV) run --locked ruff format .
	$(UV) run --locked ruff check --fix .
bench:
	$(UV) run --locked --extra bench python -m benchmarks
