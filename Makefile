# Two commands a newcomer needs: `make demo` and `make test`. Each sets up .venv on first use.
.PHONY: setup demo test test-fast lint bench clean-venv

PROBLEM ?= Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?
VENV := .venv/bin

setup:
	@bash scripts/setup.sh

demo: setup
	HF_HUB_OFFLINE=1 $(VENV)/deepcritic solve --critic-format guided "$(PROBLEM)"

test: setup
	HF_HUB_OFFLINE=1 $(VENV)/python -m pytest

test-fast: setup
	HF_HUB_OFFLINE=1 $(VENV)/python -m pytest -m "not slow"

lint: setup
	$(VENV)/ruff check .

bench: setup
	HF_HUB_OFFLINE=1 $(VENV)/python -m eval.bench

clean-venv:
	rm -rf .venv
