#!/usr/bin/env bash
# make test-deploy: the deployment lane. Brings the stack up from stopped, with tests/deploy/dags in
# its DAG folder, and runs tests/deploy against it: every example DAG through the REST API, the
# deletion sensor's deferral, a load killed mid-delivery and its retry, the mapped load on both
# workers within its pool, no secret in the logs, and last `make down`, checked for leftovers.
set -uo pipefail
# shellcheck source=scripts/deploy/env.sh
source "$(dirname "$0")/env.sh"
cd "$REPO"
started_at=$SECONDS

# From stopped: a new emulator, and every component started with the test DAGs in its folder.
bash scripts/deploy/down.sh > /dev/null 2>&1
# Whatever happens below, nothing of the stack is left running (the last test already stops it).
trap 'bash scripts/deploy/down.sh > /dev/null 2>&1' EXIT
DEPLOY_TEST_DAGS=1 bash scripts/deploy/up.sh || exit 1

# In this order: the runs, then the log walk over what they wrote, then the shutdown.
"$VENV/bin/python" -m pytest -q -p no:cacheprovider -m deploy \
  tests/deploy/test_dag_runs.py tests/deploy/test_mapped_load.py tests/deploy/test_retry_after_kill.py \
  tests/deploy/test_logs_and_shutdown.py
status=$?
say "test-deploy: $((SECONDS - started_at)) s"
exit $status
