#!/usr/bin/env bash
# make up: a real Airflow 3 deployment on this machine, against the local emulator.
#
# PostgreSQL (metadata DB, Celery results) and Redis (Celery broker) from Debian's packages, each
# with its own data under .deploy/; Airflow's api-server, scheduler, dag-processor, triggerer and
# two Celery workers from the .venv-deploy virtualenv (make builds it); the emulator of both APIs.
# Everything listens on 127.0.0.1 only. Running it again starts only what is not running.
# DEPLOY_TEST_DAGS=1 (make test-deploy) also puts tests/deploy/dags in the DAG folder.
set -euo pipefail
# shellcheck source=scripts/deploy/env.sh
source "$(dirname "$0")/env.sh"
cd "$REPO"
started_at=$SECONDS

[ -x "$VENV/bin/airflow" ] || fail "no Airflow in $VENV: run 'make up', which builds it"

# --- Debian packages: installed only when missing (needs root) -----------------------------------
install_packages() {
  local missing=()
  ls /usr/lib/postgresql/*/bin/initdb > /dev/null 2>&1 || missing+=(postgresql)
  command -v redis-server > /dev/null || missing+=(redis-server)
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || fail "${missing[*]} missing: install them (apt-get install ${missing[*]}) or run as root"
  say "installing ${missing[*]} from Debian"
  # The packages would start their own system-wide service (port 5432 or 6379): this stack runs
  # its own instances instead, so keep the package scripts from starting anything.
  local policy=/usr/sbin/policy-rc.d own_policy=""
  if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' > $policy && chmod +x $policy && own_policy=1; fi
  local status=0
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
    > "$DEPLOY/apt.log" 2>&1 || status=$?
  [ -z "$own_policy" ] || rm -f $policy
  [ $status = 0 ] || fail "apt-get install failed; see $DEPLOY/apt.log"
}

# --- ports: each either free or already held by this stack ---------------------------------------
check_ports() {
  local port
  for port in $(listening_ports); do
    case $port in
      "$DEPLOY_PG_PORT") [ -s "$PGDATA/postmaster.pid" ] ;;
      "$DEPLOY_REDIS_PORT") pid_alive redis ;;
      "$DEPLOY_EMULATOR_PORT") pid_alive emulator ;;
      "$DEPLOY_API_PORT") pid_alive api-server ;;
    esac || fail "port $port is taken by another program; choose another (see scripts/deploy/env.sh)"
  done
}

# --- secrets: generated once, kept in .deploy/secrets (mode 700), never printed but the login ----
make_secrets() {
  install -d -m 700 "$SECRETS"
  [ -s "$SECRETS/secrets.env" ] && return
  python3 - "$SECRETS/secrets.env" <<'EOF'
import base64, os, secrets, sys
values = {
    "PG_PASSWORD": secrets.token_urlsafe(24),
    "REDIS_PASSWORD": secrets.token_urlsafe(24),
    "FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "JWT_SECRET": secrets.token_urlsafe(64),  # HS512 wants at least 64 bytes
    "API_SECRET_KEY": secrets.token_urlsafe(64),
    "ADMIN_PASSWORD": secrets.token_urlsafe(12),
}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    fh.writelines(f"{name}={value}\n" for name, value in values.items())
EOF
}

# --- PostgreSQL: its own cluster, TCP on 127.0.0.1 only, no Unix socket --------------------------
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
# Postgres refuses to run as root: as root, run it as the postgres system user.
PG_USER=$(if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi)
as_pg_user() { if [ "$(id -u)" = 0 ]; then runuser -u "$PG_USER" -- "$@"; else "$@"; fi; }

init_postgres() {
  [ -s "$PGDATA/PG_VERSION" ] && return
  if ! as_pg_user test -x "$DEPLOY"; then
    # The postgres user cannot reach .deploy (a checkout in a private home directory): keep the
    # cluster where it can, and leave a link under .deploy.
    local outside
    outside=/var/tmp/airflow-deploy-$(printf %s "$DEPLOY" | sha256sum | cut -c1-12)/postgres
    say "$PG_USER cannot reach $DEPLOY; the cluster goes to $outside (linked from $PGDATA)"
    rm -rf "$outside" "$PGDATA" && mkdir -p "$(dirname "$outside")" && ln -s "$outside" "$PGDATA"
  fi
  install -d -o "$PG_USER" -m 700 "$(pg_data)"
  local pwfile
  pwfile=$(mktemp) && chown "$PG_USER" "$pwfile" && printf '%s\n' "$PG_PASSWORD" > "$pwfile"
  say "creating the PostgreSQL cluster in $PGDATA"
  as_pg_user "$PGBIN/initdb" -D "$(pg_data)" -U airflow --pwfile="$pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C.UTF-8 > "$LOGS/postgres-initdb.log" 2>&1 || { rm -f "$pwfile"; fail "initdb failed; see $LOGS/postgres-initdb.log"; }
  rm -f "$pwfile"
  cat >> "$PGDATA/postgresql.conf" <<'EOF'
# airflow-provider-monetate deployment: loopback TCP only, no Unix socket
listen_addresses = '127.0.0.1'
unix_socket_directories = ''
max_connections = 200
EOF
}

start_postgres() {
  if [ -s "$PGDATA/postmaster.pid" ] && as_pg_user "$PGBIN/pg_ctl" -D "$(pg_data)" status > /dev/null 2>&1; then
    say "PostgreSQL already running"; return
  fi
  # pg_ctl runs as $PG_USER but writes through a descriptor opened here, so the log stays with the others.
  as_pg_user env "$STACK_MARK" "$PGBIN/pg_ctl" -D "$(pg_data)" -o "-p $DEPLOY_PG_PORT" -w -t 60 start \
    >> "$LOGS/postgres.log" 2>&1 || fail "PostgreSQL did not start; see $LOGS/postgres.log"
  PGPASSWORD=$PG_PASSWORD "$PGBIN/psql" -h 127.0.0.1 -p "$DEPLOY_PG_PORT" -U airflow -d postgres -tAq \
    -c "SELECT 1 FROM pg_database WHERE datname = 'airflow'" | grep -q 1 \
    || PGPASSWORD=$PG_PASSWORD "$PGBIN/createdb" -h 127.0.0.1 -p "$DEPLOY_PG_PORT" -U airflow airflow
}

# --- Redis: the broker, with a password, nothing saved to disk ------------------------------------
start_redis() {
  if pid_alive redis; then say "Redis already running"; return; fi
  install -d -m 700 "$DEPLOY/redis"
  (umask 077 && cat > "$DEPLOY/redis/redis.conf" <<EOF
bind 127.0.0.1
port $DEPLOY_REDIS_PORT
protected-mode yes
requirepass $REDIS_PASSWORD
dir $DEPLOY/redis
save ""
appendonly no
daemonize no
logfile ""
EOF
  )
  start_process redis redis-server "$DEPLOY/redis/redis.conf"
}

# start_process NAME COMMAND...: run in the background in its own session (so down.sh can stop the
# whole process group), marked as part of the stack, output to $LOGS/NAME.log.
start_process() {
  local name=$1; shift
  setsid env "$STACK_MARK" "$@" >> "$LOGS/$name.log" 2>&1 < /dev/null &
  record_pid "$name" $!
}

# --- the emulator: Monetate and Acquia CDP on one port ------------------------------------------
EMULATOR_RESTARTED=""
start_emulator() {
  if pid_alive emulator && [ -s "$EMULATOR_DIR/ready" ]; then say "emulator already running"; return; fi
  install -d -m 700 "$EMULATOR_DIR"
  rm -f "$EMULATOR_DIR/ready"
  # Its standard output only repeats the connection environment (with the CDP password and token),
  # which it also writes to env.sh: keep that out of the logs.
  setsid env "$STACK_MARK" "$VENV/bin/python" -m airflow_provider_monetate.testing --port "$DEPLOY_EMULATOR_PORT" \
    --state-dir "$EMULATOR_DIR" --print-env-file "$EMULATOR_DIR/env.sh" --ready-file "$EMULATOR_DIR/ready" \
    > /dev/null 2>> "$LOGS/emulator.log" < /dev/null &
  record_pid emulator $!
  for _ in $(seq 300); do [ -s "$EMULATOR_DIR/ready" ] && break; sleep 0.1; done
  [ -s "$EMULATOR_DIR/ready" ] || fail "the emulator did not start; see $LOGS/emulator.log"
  chmod 600 "$EMULATOR_DIR/env.sh"
  EMULATOR_RESTARTED=1
}

source "$(dirname "$0")/airflow.sh"

mkdir -p "$DEPLOY" "$LOGS" "$RUN"
install_packages
check_ports
make_secrets
# Shell variables only, not exported: no process of the stack gets them in its environment.
# shellcheck disable=SC1091
source "$SECRETS/secrets.env"
init_postgres
start_postgres
start_redis
start_emulator
write_airflow_env
link_dags
configure_airflow
start_airflow
wait_for_api
say "up in $((SECONDS - started_at)) s"
print_summary
