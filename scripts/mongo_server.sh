#!/usr/bin/env bash
# Local MongoDB wire-protocol server for tests and demos: nx-27017 (NeoSQLite-backed).
#
#   scripts/mongo_server.sh install   # create its own venv (idempotent)
#   scripts/mongo_server.sh start     # install if needed, start, print the env to export
#   scripts/mongo_server.sh status    # exit 0 and print the env if running, 1 if not
#   scripts/mongo_server.sh stop      # stop the server started here (by PID)
#   scripts/mongo_server.sh env       # print the env to export (no start)
#
# nx-27017 is NOT MongoDB: it is a test stand-in. Production uses a real MongoDB server
# (db_config/server.yaml with `mongo_compat: none`). nx-27017 needs pymongo>=4.18 while the
# project caps pymongo at 4.16, so it lives in its own venv and is reached over TCP.
#
# Settings (environment):
#   SSIC_MONGO_DIR   state dir (data, pid, log)   default: <repo>/.ssic_home/mongo
#   SSIC_MONGO_PORT  TCP port on 127.0.0.1          default: 27217
#   SSIC_MONGO_VENV  venv for the server            default: <repo>/.venv-mongo
#   SSIC_MONGO_DB    database name used in the URI  default: ssic_test
#   PYTHON           interpreter to build the venv   default: python3
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${SSIC_MONGO_DIR:-$REPO/.ssic_home/mongo}"
PORT="${SSIC_MONGO_PORT:-27217}"
VENV="${SSIC_MONGO_VENV:-$REPO/.venv-mongo}"
DB="${SSIC_MONGO_DB:-ssic_test}"
PY="${PYTHON:-python3}"
NX_VERSION="nx-27017==0.8.1"
PIDF="$DIR/nx27017.pid"
LOG="$DIR/nx27017.log"

die() { echo "mongo_server.sh: $*" >&2; exit 1; }

install() {
    if [ -x "$VENV/bin/nx-27017" ]; then return 0; fi
    if ! "$PY" -c 'import venv, ensurepip' >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
            apt-get install -y -q python3-venv >/dev/null || { apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null; } \
                || die "cannot install python3-venv; install it and rerun"
        else
            die "$PY cannot create venvs; install python3-venv (Debian) and rerun"
        fi
    fi
    "$PY" -m venv "$VENV" || die "cannot create venv $VENV"
    "$VENV/bin/pip" install -q "$NX_VERSION" || die "pip install $NX_VERSION into $VENV failed (needs PyPI access)"
}

pid_alive() { [ -f "$PIDF" ] && kill -0 "$(cat "$PIDF")" 2>/dev/null; }

port_open() { "$PY" - "$PORT" <<'EOF'
import socket, sys
s = socket.socket(); s.settimeout(0.5)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
EOF
}

print_env() {
    # nx-27017 has no authentication (a user:password in the URI makes the client fail), so
    # the URI carries a distinctive stand-in secret in its appname instead: the tests assert
    # it never leaks into job documents, FireWorks specs or logs. A real deployment's URI
    # (with its password) is kept out of the repo the same way: env var or untracked file.
    echo "export SSIC_MONGO_URI='mongodb://127.0.0.1:$PORT/$DB?appname=ssic-s3cr3t-TOKEN'"
    echo "export SSIC_MONGO_PORT=$PORT"
    echo "export SSIC_MONGO_PID=$(cat "$PIDF" 2>/dev/null || echo none)"
}

start() {
    if pid_alive && port_open; then print_env; return 0; fi
    install
    mkdir -p "$DIR/data"
    if port_open; then die "port $PORT is taken by another process; set SSIC_MONGO_PORT"; fi
    # setsid + nohup: the server outlives the shell that started it, owned by its own PID.
    setsid nohup "$VENV/bin/nx-27017" --host 127.0.0.1 -p "$PORT" --data-dir "$DIR/data" \
        --log-file "$LOG" --pid-file "$DIR/server.pid" >"$DIR/stdout.log" 2>&1 < /dev/null &
    echo $! >"$PIDF"
    for _ in $(seq 1 100); do
        if port_open; then print_env; return 0; fi
        pid_alive || break
        sleep 0.1
    done
    tail -n 20 "$DIR/stdout.log" "$LOG" >&2 2>/dev/null || true
    die "nx-27017 did not start on 127.0.0.1:$PORT (log: $LOG)"
}

stop() {
    if pid_alive; then
        local pid; pid="$(cat "$PIDF")"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDF"
    echo "stopped"
}

status() {
    if pid_alive && port_open; then print_env; return 0; fi
    echo "not running" >&2; return 1
}

case "${1:-}" in
    install) install ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) print_env ;;
    wipe) stop >/dev/null; rm -rf "$DIR/data"; echo "wiped $DIR/data" ;;
    *) echo "usage: $0 install|start|stop|status|env|wipe" >&2; exit 2 ;;
esac
