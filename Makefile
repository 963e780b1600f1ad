# One entry point. Each target creates or reuses its virtualenv and installs what it needs,
# pinned by requirements/airflow3.txt (newest Airflow 3, the full suite) and requirements/airflowX.txt
# for each other supported Airflow (2.11 as `2`, 3.0, 3.1, 3.2: unit tests + example-DAG import).
PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=
# The lane every supported Airflow runs; the full suite (integration, real Airflow runs) is test-af3's.
UNIT_LANE = tests/unit tests/support tests/test_example_dags.py
# Lanes with their own setup, run by their own targets.
OWN_LANES = --ignore=tests/packaging --ignore=tests/deploy --ignore=tests/browser

.PHONY: demo test test-af3 test-matrix lint bench emulator dist test-dist clean
# A lane's virtualenv is built once and kept (make would delete it as an intermediate file).
.PRECIOUS: .venv-af%/.installed

$(VENV)/.installed: requirements/airflow3.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements/airflow3.txt
	$(VENV)/bin/pip install -q --no-deps -e .
	touch $@

.venv-af%/.installed: requirements/airflow%.txt pyproject.toml
	$(PYTHON) -m venv .venv-af$*
	.venv-af$*/bin/pip install -q --upgrade pip
	.venv-af$*/bin/pip install -q -r requirements/airflow$*.txt
	.venv-af$*/bin/pip install -q --no-deps -e .
	touch $@

## demo: start the emulator, run every example DAG through real Airflow against it, stop it
demo: $(VENV)/.installed
	VENV=$(VENV) bash scripts/demo.sh

## test: the whole suite on Airflow 3.3, then unit tests + DAG import on Airflow 2.11 and 3.0
test: test-af3 test-af2 test-af3.0

test-af3: $(VENV)/.installed
	$(VENV)/bin/python -m pytest -q $(OWN_LANES) $(PYTEST_ARGS)

## test-af2, test-af3.0, test-af3.1, test-af3.2: unit tests + DAG import on that Airflow
test-af%: .venv-af%/.installed
	.venv-af$*/bin/python -m pytest -q -p no:cacheprovider $(UNIT_LANE) $(PYTEST_ARGS)

## test-matrix: the unit lane on every supported Airflow besides 3.3 (3.1 and 3.2 are not in CI)
test-matrix: test-af2 test-af3.0 test-af3.1 test-af3.2

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .

## test-browser: both connection forms in the Airflow 3.3 UI, in Debian's headless Chromium (installed
## with apt-get when missing, as root); set MONETATE_DEPLOY_UI_URL (+ _USER, _PASSWORD) to use a running UI
.PHONY: test-browser
$(VENV)/.browser-installed: $(VENV)/.installed requirements/browser.txt
	$(VENV)/bin/pip install -q -c requirements/airflow3.txt -r requirements/browser.txt
	touch $@

test-browser: $(VENV)/.browser-installed
	bash scripts/browser-deps.sh
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider -m browser tests/browser $(PYTEST_ARGS)

## bench: every benchmark in bench/, each printing ratios against its own baseline
bench: $(VENV)/.installed
	for f in bench/bench_*.py; do echo "== $$f"; $(VENV)/bin/python $$f || exit 1; done

## emulator: run the local emulator in the foreground and print the connection env
emulator: $(VENV)/.installed
	$(VENV)/bin/python -m airflow_provider_monetate.testing

## up: a real Airflow 3 deployment on this machine against the emulator (PostgreSQL, Redis,
## CeleryExecutor with two workers, triggerer); prints the UI URL and login. down: stop all of it.
## test-deploy: up with the test DAGs, run every example DAG and tests/deploy against it, down.
VENV_DEPLOY = .venv-deploy
.PHONY: up down test-deploy

$(VENV_DEPLOY)/.installed: requirements/airflow3.txt requirements/deploy.txt pyproject.toml
	$(PYTHON) -m venv $(VENV_DEPLOY)
	$(VENV_DEPLOY)/bin/pip install -q --upgrade pip
	$(VENV_DEPLOY)/bin/pip install -q -r requirements/airflow3.txt -r requirements/deploy.txt
	$(VENV_DEPLOY)/bin/pip install -q --no-deps -e .
	touch $@

up: $(VENV_DEPLOY)/.installed
	VENV=$(VENV_DEPLOY) bash scripts/deploy/up.sh

down:
	bash scripts/deploy/down.sh

test-deploy: $(VENV_DEPLOY)/.installed
	VENV=$(VENV_DEPLOY) bash scripts/deploy/test.sh

$(VENV)/.dist-installed: $(VENV)/.installed requirements/dist.txt
	$(VENV)/bin/pip install -q -c requirements/airflow3.txt -r requirements/dist.txt
	touch $@

## dist: build the sdist and wheel into dist/ and check their metadata with twine
dist: $(VENV)/.dist-installed
	rm -rf dist
	$(VENV)/bin/python -m build --sdist --wheel --outdir dist .
	$(VENV)/bin/twine check --strict dist/*

## test-dist: build the wheel, install it (not editable) into a new virtualenv, import everything
test-dist: $(VENV)/.dist-installed
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider tests/packaging $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .venv-af* $(VENV_DEPLOY) .demo .pytest_cache .ruff_cache dist build
