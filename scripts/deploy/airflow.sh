# The Airflow part of up.sh (sourced by it): configuration, metadata DB, the six components.

# write_airflow_env: the one configuration every component reads, as environment variables in
# .deploy/airflow.env (mode 600: it holds the database and broker passwords). Source it to run the
# airflow CLI against the deployment.
write_airflow_env() {
  local api="http://127.0.0.1:$DEPLOY_API_PORT" db="airflow:$PG_PASSWORD@127.0.0.1:$DEPLOY_PG_PORT/airflow"
  local emulator_url
  emulator_url=$(cat "$EMULATOR_DIR/ready")
  (umask 077 && cat > "$DEPLOY/airflow.env" <<EOF
# Written by scripts/deploy/up.sh; read by every Airflow component of the deployment.
export AIRFLOW_HOME=$AIRFLOW_HOME
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CORE__DAGS_FOLDER=$DEPLOY/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__TEST_CONNECTION=Enabled
export AIRFLOW__CORE__FERNET_KEY=$FERNET_KEY
export AIRFLOW__CORE__AUTH_MANAGER=airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$DEPLOY_ADMIN_USER:admin
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$SECRETS/simple_auth_manager_passwords.json
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=$api/execution/
export AIRFLOW__API__BASE_URL=$api
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=$DEPLOY_API_PORT
# One api-server worker process: two cores, and a UI for one person.
export AIRFLOW__API__WORKERS=1
export AIRFLOW__API__SECRET_KEY=$API_SECRET_KEY
# Every component signs and checks the task and UI tokens with this one secret.
export AIRFLOW__API_AUTH__JWT_SECRET=$JWT_SECRET
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgresql+psycopg2://$db
export AIRFLOW__CELERY__BROKER_URL=redis://:$REDIS_PASSWORD@127.0.0.1:$DEPLOY_REDIS_PORT/0
export AIRFLOW__CELERY__RESULT_BACKEND=db+postgresql+psycopg2://$db
export AIRFLOW__CELERY__WORKER_CONCURRENCY=$DEPLOY_WORKER_CONCURRENCY
# Celery's own default, said out loud: a task still running after a day is handed to another worker.
export AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT=86400
export AIRFLOW__LOGGING__BASE_LOG_FOLDER=$LOGS/airflow
export AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY=$LOGS/airflow/dag_processor
# A DAG file added to the folder shows up within 30 s (the default looks every 5 minutes).
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
# The example_monetate_privacy DAG moves the emulator's clock when it runs against it.
export MONETATE_EMULATOR_URL=$emulator_url
# setproctitle must not overwrite /proc/<pid>/environ, where down.sh looks for DEPLOY_STACK.
export SPT_NOENV=1
EOF
  )
  # The UI login: a known password, written before the first start, so Airflow neither generates
  # one nor prints it to the api-server's log.
  (umask 077 && printf '{"%s": "%s"}\n' "$DEPLOY_ADMIN_USER" "$ADMIN_PASSWORD" \
    > "$SECRETS/simple_auth_manager_passwords.json")
}

# link_dags: the DAG folder holds links, so the DAGs stay where they are in the repository.
link_dags() {
  mkdir -p "$DEPLOY/dags"
  ln -sfn "$REPO/example_dags" "$DEPLOY/dags/example_dags"
  if [ "${DEPLOY_TEST_DAGS:-}" = 1 ]; then
    ln -sfn "$REPO/tests/deploy/dags" "$DEPLOY/dags/deploy_tests"
  else
    rm -f "$DEPLOY/dags/deploy_tests"
  fi
}

airflow_cli() { "$VENV/bin/airflow" "$@" >> "$LOGS/setup.log" 2>&1 || fail "airflow $1 $2 failed; see $LOGS/setup.log"; }

# configure_airflow: metadata DB, the emulator's connections, the monetate_api pool.
configure_airflow() {
  # shellcheck disable=SC1091
  source "$DEPLOY/airflow.env"
  say "migrating the metadata DB"
  airflow_cli db migrate
  # In the metadata DB rather than in AIRFLOW_CONN_* variables: the UI lists, edits and tests them.
  "$VENV/bin/python" - "$EMULATOR_DIR/env.sh" "$SECRETS/connections.json" <<'EOF'
import json, os, shlex, sys
connections = {}
for line in open(sys.argv[1]):
    words = shlex.split(line)
    if len(words) == 2 and words[0] == "export" and words[1].startswith("AIRFLOW_CONN_"):
        name, _, value = words[1].partition("=")
        connections[name.removeprefix("AIRFLOW_CONN_").lower()] = json.loads(value)
fd = os.open(sys.argv[2], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    json.dump(connections, fh)
EOF
  airflow_cli connections import --overwrite "$SECRETS/connections.json"
  airflow_cli pools set monetate_api "$DEPLOY_POOL_SLOTS" "Monetate Data API: loads at once, across all DAGs"
  if [ -n "$EMULATOR_RESTARTED" ]; then
    # A new emulator knows none of the CDP tokens the last one issued: drop the stored one, so the
    # hooks use the connection's token until the rotation DAG stores a new one.
    "$VENV/bin/airflow" variables delete acquia_cdp_token >> "$LOGS/setup.log" 2>&1 || true
  fi
}

# start_airflow: each component not already running, in its own session, logging to $LOGS.
start_airflow() {
  local name
  for name in $AIRFLOW_COMPONENTS; do
    if pid_alive "$name"; then say "$name already running"; continue; fi
    say "starting $name"
    case $name in
      api-server) start_process "$name" "$VENV/bin/airflow" api-server --host 127.0.0.1 --port "$DEPLOY_API_PORT" ;;
      # The log servers are off: they would listen on every interface, and every component writes
      # to the same $LOGS/airflow, which the api-server reads directly.
      scheduler) start_process "$name" "$VENV/bin/airflow" scheduler --skip-serve-logs ;;
      dag-processor) start_process "$name" "$VENV/bin/airflow" dag-processor ;;
      triggerer) start_process "$name" "$VENV/bin/airflow" triggerer --skip-serve-logs ;;
      worker*)
        # Each worker records its own name as the task instances' hostname (the UI shows which
        # worker ran a task), through scripts/deploy/deploy_hostname.py.
        start_process "$name" env PYTHONPATH="$REPO/scripts/deploy" DEPLOY_WORKER_NAME="$name" \
          AIRFLOW__CORE__HOSTNAME_CALLABLE=deploy_hostname.worker_hostname \
          "$VENV/bin/airflow" celery worker --celery-hostname "$name@%h" \
          --concurrency "$DEPLOY_WORKER_CONCURRENCY" --skip-serve-logs ;;
    esac
  done
}

# wait_for_api: the api-server answers, and the printed login gets a token.
wait_for_api() {
  "$VENV/bin/python" - "http://127.0.0.1:$DEPLOY_API_PORT" "$DEPLOY_ADMIN_USER" "$ADMIN_PASSWORD" <<'EOF' \
    || fail "the api-server did not come up; see $LOGS/api-server.log"
import json, sys, time, urllib.request
url, user, password = sys.argv[1:]
deadline = time.monotonic() + 180
while True:
    try:
        request = urllib.request.Request(f"{url}/auth/token", json.dumps({"username": user, "password": password}).encode(),
                                         {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as answer:
            if json.load(answer).get("access_token"):
                break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit(1)
        time.sleep(1)
EOF
}

print_summary() {
  cat <<EOF

  Airflow UI   http://127.0.0.1:$DEPLOY_API_PORT
  Login        $DEPLOY_ADMIN_USER / $ADMIN_PASSWORD
  Emulator     $(cat "$EMULATOR_DIR/ready")  (connections monetate_default, acquia_cdp_default point at it)
  Logs         $LOGS
  Stop         make down

EOF
}
