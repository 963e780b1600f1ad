#!/usr/bin/env bash
# make down: stop everything make up started, then check that no process of the stack and no
# listening port of it is left (exit 1 naming them if one is). Data under .deploy/ is kept, so
# the next `make up` finds the same DAG runs, connections and logs; `rm -rf .deploy` forgets them.
set -uo pipefail
# shellcheck source=scripts/deploy/env.sh
source "$(dirname "$0")/env.sh"

# stop_group NAME: TERM to the process group started for NAME (it runs in its own session, so the
# group holds its children: api-server workers, the Celery pool, task processes), KILL after a while.
stop_group() {
  local name=$1 pid
  if pid_alive "$name"; then
    read -r pid _ < "$RUN/$name.pid"
    say "stopping $name"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
  fi
}

wait_gone() {  # wait_gone SECONDS PID...: until none of the PIDs runs, or the time is up
  local deadline=$((SECONDS + $1)) pid alive; shift
  while [ $SECONDS -lt $deadline ]; do
    alive=""
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && return 0
    sleep 0.5
  done
  return 1
}

pids_of() { local name pid; for name in "$@"; do pid_alive "$name" && read -r pid _ < "$RUN/$name.pid" && echo "$pid"; done; }

# Airflow first, newest first, so that nothing is left to talk to the broker or the database.
components=$(echo "$AIRFLOW_COMPONENTS" | tr ' ' '\n' | tac | tr '\n' ' ')
for name in $components emulator redis; do stop_group "$name"; done
# A Celery worker waits for its running tasks on TERM: give it a little, then kill what is left.
wait_gone 20 $(pids_of $components emulator redis) || say "some processes ignored TERM; killing them"
for name in $components emulator redis; do
  pid_alive "$name" && read -r pid _ < "$RUN/$name.pid" && kill -KILL -- "-$pid" 2>/dev/null
  rm -f "$RUN/$name.pid"
done

if [ -s "$PGDATA/postmaster.pid" ]; then
  say "stopping PostgreSQL"
  PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  if [ "$(id -u)" = 0 ]; then
    # From /: the checkout may sit in a folder the postgres user cannot enter (psql would say so).
    (data=$(pg_data) && cd / && runuser -u postgres -- "$PGBIN/pg_ctl" -D "$data" -m fast -w -t 60 stop > /dev/null)
  else
    "$PGBIN/pg_ctl" -D "$(pg_data)" -m fast -w -t 60 stop > /dev/null
  fi
fi

# Anything of the stack still running (a task process that left its group): kill it.
leftover=$(stack_pids)
if [ -n "$leftover" ]; then
  say "killing leftover processes: $(echo $leftover)"
  kill -KILL $leftover 2>/dev/null
  wait_gone 10 $leftover
fi

# The check: ps and ss must show nothing of the stack.
status=0
leftover=$(stack_pids)
postmaster=$(pgrep -f -- "-D $(pg_data)" || true)
if [ -n "$leftover$postmaster" ]; then
  say "still running:"; ps -o pid,user,args -p $leftover $postmaster; status=1
fi
ports=$(listening_ports)
if [ -n "$ports" ]; then
  say "still listening on 127.0.0.1:"; ss -Hltnp | grep -E ":($(echo $ports | tr ' ' '|'))\b"; status=1
fi
[ $status = 0 ] && say "down: no process of the stack runs, ports $DEPLOY_PORTS are free"
exit $status
