# Shared by cluster/start-head, join-worker, stop-head and stop-worker (sourced, not run).
# A node is one `ray start --block` process run in the background: its pid is recorded in the
# node's --temp-dir, and SIGTERM to that pid makes Ray stop exactly that node's processes (raylet,
# GCS, dashboard, agents, workers), never another Ray on the machine.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RAY=${RAY:-$REPO/.venv/bin/ray}
case "$RAY" in /*) ;; *) RAY="$PWD/$RAY" ;; esac
VENV_BIN=$(cd "$(dirname "$RAY")" && pwd)
PY="$VENV_BIN/python"

die() { echo "$*" >&2; exit 2; }

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

# The environment the node's processes, and so every job driver and Serve replica, inherit:
# Meridian's virtual environment first on PATH (`python -m pipelines.jobs.X` in `ray job submit`
# runs Meridian's python), this checkout importable, one absolute Meridian home, the config file.
meridian_env() {
  export PATH="$VENV_BIN:$PATH"
  export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}"
  export MERIDIAN_HOME
  MERIDIAN_HOME=$(abs_dir "${MERIDIAN_HOME:-$HOME/.meridian}")
  if [ -n "${MERIDIAN_CONFIG:-}" ]; then
    [ -f "$MERIDIAN_CONFIG" ] || die "MERIDIAN_CONFIG=$MERIDIAN_CONFIG: no such file"
    MERIDIAN_CONFIG="$(cd "$(dirname "$MERIDIAN_CONFIG")" && pwd)/$(basename "$MERIDIAN_CONFIG")"
    export MERIDIAN_CONFIG
  fi
}

pid_alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }

# start_node PIDFILE LOG ARGS...: run `ray start --block ARGS` detached, record its pid
start_node() {
  local pidfile=$1 log=$2; shift 2
  if [ -f "$pidfile" ] && pid_alive "$(cat "$pidfile")"; then
    die "a node started here is already running (pid $(cat "$pidfile"), $pidfile); stop it first"
  fi
  nohup "$RAY" start --block "$@" </dev/null >"$log" 2>&1 &
  echo $! >"$pidfile"
}

# stop_node PIDFILE: SIGTERM the recorded `ray start --block` process, wait for it to finish
# stopping its node's processes; SIGKILL only if it does not within STOP_TIMEOUT_S.
stop_node() {
  local pidfile=$1 pid waited=0 limit=${STOP_TIMEOUT_S:-60}
  [ -f "$pidfile" ] || { echo "nothing to stop: no $pidfile"; return 0; }
  pid=$(cat "$pidfile")
  if pid_alive "$pid"; then
    kill -TERM "$pid"
    while pid_alive "$pid" && [ "$waited" -lt $((limit * 10)) ]; do sleep 0.1; waited=$((waited + 1)); done
    if pid_alive "$pid"; then
      echo "ray process $pid still running after ${limit}s: killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
  echo "stopped the Ray node of pid $pid"
}
