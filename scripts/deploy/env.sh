# Shared settings of the local deployment (make up / make down / make test-deploy); sourced, not run.
#
# Everything lives under .deploy/ in the repository and listens on 127.0.0.1 only. Each port can be
# changed with the variable of the same name; the defaults are fixed so that the printed URLs stay
# the same from one `make up` to the next, and below 32768, where Linux picks no outgoing ports.
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=${VENV:-.venv-deploy}
case $VENV in /*) ;; *) VENV=$REPO/$VENV ;; esac
DEPLOY=${DEPLOY_DIR:-$REPO/.deploy}

DEPLOY_API_PORT=${DEPLOY_API_PORT:-18380}        # Airflow api-server: the UI and the REST API
DEPLOY_PG_PORT=${DEPLOY_PG_PORT:-18332}          # PostgreSQL: metadata DB and Celery results
DEPLOY_REDIS_PORT=${DEPLOY_REDIS_PORT:-18379}    # Redis: the Celery broker
DEPLOY_EMULATOR_PORT=${DEPLOY_EMULATOR_PORT:-18365}  # the Monetate / Acquia CDP emulator
DEPLOY_PORTS="$DEPLOY_API_PORT $DEPLOY_PG_PORT $DEPLOY_REDIS_PORT $DEPLOY_EMULATOR_PORT"
# Two Celery workers, each running this many tasks at once. Four slots in all, more than the
# monetate_api pool's two: the pool, not the workers, is what bounds the mapped load.
DEPLOY_WORKER_CONCURRENCY=${DEPLOY_WORKER_CONCURRENCY:-2}
DEPLOY_POOL_SLOTS=${DEPLOY_POOL_SLOTS:-2}
DEPLOY_ADMIN_USER=admin

LOGS=$DEPLOY/logs          # every log of the stack: one file per process, task logs in logs/airflow
RUN=$DEPLOY/run            # pid files
SECRETS=$DEPLOY/secrets    # generated passwords and keys, mode 700
PGDATA=$DEPLOY/postgres    # or a link to where the postgres user can reach it (see up.sh)
EMULATOR_DIR=$DEPLOY/emulator
export AIRFLOW_HOME=$DEPLOY/airflow

# Every process of the stack is started with this variable (never these scripts themselves), so
# down.sh finds each Airflow and emulator process (a task process a worker forked too) by its
# environment, whatever its process group or title. Redis and Postgres go by pid file and pg_ctl.
STACK_MARK="DEPLOY_STACK=$DEPLOY"

# The Airflow components, in start order; down.sh stops them in reverse.
AIRFLOW_COMPONENTS="api-server scheduler dag-processor triggerer worker1 worker2"

# pg_data: the cluster's real path, as the postgres user must be given it (it may not follow the link).
pg_data() { readlink -f "$PGDATA"; }

say() { printf 'deploy: %s\n' "$*"; }
fail() { printf 'deploy: %s\n' "$*" >&2; exit 1; }

# pid_alive NAME: the process recorded in $RUN/NAME.pid still runs. The file holds the pid and the
# process's start time, so a pid reused by another program after a reboot does not count.
pid_alive() {
  local pid started
  read -r pid started 2>/dev/null < "$RUN/$1.pid" || return 1
  [ -n "$started" ] && [ "$(start_time "$pid")" = "$started" ]
}

# record_pid NAME PID: write $RUN/NAME.pid for pid_alive.
record_pid() { echo "$2 $(start_time "$2")" > "$RUN/$1.pid"; }

# start_time PID: when the process started, in clock ticks since boot (field 22 of /proc/PID/stat).
start_time() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f20; }

# belongs_to_stack PID: the process was started with $STACK_MARK in its environment. (Redis and
# Postgres overwrite theirs with their process titles: they are found by their pid files.)
belongs_to_stack() {
  [ -r "/proc/$1/environ" ] && tr '\0' '\n' 2>/dev/null < "/proc/$1/environ" | grep -qxF "$STACK_MARK"
}

# stack_pids: every process of this stack, found by its environment.
stack_pids() {
  local dir
  for dir in /proc/[0-9]*; do
    belongs_to_stack "${dir#/proc/}" && echo "${dir#/proc/}"
  done
  return 0
}

# listening_ports: those of the stack's ports something listens on.
listening_ports() {
  local port
  for port in $DEPLOY_PORTS; do
    ss -Hltn "sport = :$port" | grep -q . && echo "$port"
  done
  return 0
}
