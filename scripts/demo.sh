#!/usr/bin/env bash
# The demo: start the emulator, run every example DAG through real Airflow (`airflow dags test`
# with a SQLite metadata DB) against it, print each run's outcome, stop the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
DEMO=$PWD/.demo
rm -rf "$DEMO" && mkdir -p "$DEMO"

export AIRFLOW_HOME=$DEMO/airflow
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/example_dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
"$VENV/bin/airflow" db migrate > "$DEMO/db-migrate.log" 2>&1

"$VENV/bin/python" -m airflow_provider_monetate.testing --port 0 --state-dir "$DEMO/emulator" \
  --print-env-file "$DEMO/env.sh" --ready-file "$DEMO/ready" > "$DEMO/emulator.log" 2>&1 &
EMULATOR_PID=$!
trap 'kill $EMULATOR_PID 2>/dev/null; wait $EMULATOR_PID 2>/dev/null || true' EXIT
for _ in $(seq 200); do [ -s "$DEMO/ready" ] && break; sleep 0.1; done
[ -s "$DEMO/ready" ] || { echo "the emulator did not start:"; cat "$DEMO/emulator.log"; exit 1; }
# shellcheck disable=SC1091
source "$DEMO/env.sh"
MONETATE_EMULATOR_URL=$(cat "$DEMO/ready")
export MONETATE_EMULATOR_URL
echo "emulator: $MONETATE_EMULATOR_URL (logs and task output in $DEMO)"

failed=0
for file in example_dags/example_*.py; do
  dag_id=$(basename "$file" .py)
  log="$DEMO/$dag_id.log"
  # A failing task with retries would make `dags test` wait out its retry delays: cap each run.
  if timeout 600 "$VENV/bin/airflow" dags test "$dag_id" > "$log" 2>&1 \
      && grep -q "DagRun Finished:.*state=success" "$log"; then
    echo "ok      $dag_id"
  else
    echo "FAILED  $dag_id (last lines of $log):"
    tail -n 30 "$log"
    failed=1
  fi
done
exit $failed
