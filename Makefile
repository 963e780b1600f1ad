# One entry point. Each target creates or reuses its virtualenv and installs what it needs,
# pinned by requirements/airflow3.txt (newest Airflow 3) and requirements/airflow2.txt (2.11).
PYTHON ?= python3
VENV ?= .venv
VENV_AF2 ?= .venv-af2
PYTEST_ARGS ?=

.PHONY: demo test test-af3 test-af2 lint bench emulator clean

$(VENV)/.installed: requirements/airflow3.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements/airflow3.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

$(VENV_AF2)/.installed: requirements/airflow2.txt pyproject.toml
	$(PYTHON) -m venv $(VENV_AF2)
	$(VENV_AF2)/bin/pip install -q --upgrade pip
	$(VENV_AF2)/bin/pip install -q -r requirements/airflow2.txt
	$(VENV_AF2)/bin/pip install -q --no-deps -e .
	touch $@

## demo: start the emulator, run every example DAG through real Airflow against it, stop it
demo: $(VENV)/.installed
	VENV=$(VENV) bash scripts/demo.sh

## test: the whole suite on Airflow 3, then unit tests + DAG import on Airflow 2.11
test: test-af3 test-af2

test-af3: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q $(PYTEST_ARGS)

test-af2: $(VENV_AF2)/.installed
	$(VENV_AF2)/bin/python -m pytest -q -p no:cacheprovider tests/unit tests/support tests/test_example_dags.py $(PYTEST_ARGS)

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

## bench: every benchmark in bench/, each printing ratios against its own baseline
bench: $(VENV)/.installed
	for f in bench/bench_*.py; do echo "== $$f"; $(VENV)/bin/python $$f || exit 1; done

## emulator: run the local emulator in the foreground and print the connection env
emulator: $(VENV)/.installed
	$(VENV)/bin/python -m airflow_provider_monetate.testing

clean:
	rm -rf $(VENV) $(VENV_AF2) .demo .pytest_cache .ruff_cache
