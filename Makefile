# Mirrors the README: `make run` is its first command, `make test` its second (.ci/run calls the same).
PY ?= python3

.PHONY: run test lint bench

run:
	$(PY) bootstrap.py

test:
	$(PY) bootstrap.py test

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy && .venv/bin/lint-imports

bench:
	.venv/bin/python bench/mesh_engine.py
	.venv/bin/python bench/fomm_engine.py
	.venv/bin/python bench/pipeline.py
