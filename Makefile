# Encaisse: `make run` serves the demo, `make test` runs every check.
# The first call creates .venv with a Python >= 3.12 it finds itself (see scripts/find-python).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
UV := .tools/bin/python -m uv
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint bench venv messages clean serve

$(PY): pyproject.toml uv.lock
	@PYTHON=$$(scripts/find-python) || exit 1; \
	if [ ! -x .tools/bin/python ]; then "$$PYTHON" -m venv .tools && .tools/bin/pip install -q uv; fi; \
	$(UV) sync --frozen --python "$$PYTHON" --quiet
	@touch $(PY)

venv: $(PY) messages

messages: $(PY)
	@$(PY) -m encaisse compilemessages --ignore=.venv --ignore=.tools -v 0

run: venv
	@mkdir -p var
	$(PY) -m encaisse migrate --no-input -v 0
	$(PY) -m encaisse demo
	$(PY) -m encaisse collectstatic --no-input -v 0
	@scripts/serve "$(PY)" "$(HOST)" "$(PORT)"

lint: $(PY)
	$(VENV)/bin/ruff check encaisse
	$(VENV)/bin/lint-imports
	$(PY) -m encaisse makemigrations --check --dry-run -v 0

test: venv lint
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

# Each benchmark in its own process, so each peak memory figure is its own.
bench: venv
	$(PY) -m encaisse.bench $(BENCH_ARGS)
	$(PY) -m encaisse.usage_bench --lines 100000
	$(PY) -m encaisse.usage_bench --lines 1000000
	$(PY) -m encaisse.collection_bench

clean:
	rm -rf var/encaisse.sqlite3* var/static var/media var/mail
