#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: a repeatable figure for
# comparing two builds of the request path (unlike req/s on a shared machine).
#
# Usage: bench/instructions.sh [palisade-binary]
# Needs valgrind, nginx and wrk (installed with apt-get when missing). Starts an
# nginx upstream that answers "ok", Palisade with one worker under callgrind, warms
# up, then counts instructions over a 5 s wrk run with 4 connections.
# CG_OUT=dir keeps callgrind's files there, for callgrind_annotate.
set -euo pipefail
export LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}/release/palisade}
need=()
for c in valgrind nginx wrk curl python3; do command -v "$c" >/dev/null || need+=("$c"); done
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[[ -x $BIN ]] || (cd "$REPO" && cargo build --release -p palisade --bin palisade)
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(port)
PX=$(port)
mkdir -p "$TMP/up"
cat >"$TMP/up.conf" <<CONF
worker_processes 1;
pid $TMP/up/nginx.pid;
error_log $TMP/up/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $TMP/up/cb; proxy_temp_path $TMP/up/p; fastcgi_temp_path $TMP/up/f;
    uwsgi_temp_path $TMP/up/u; scgi_temp_path $TMP/up/s;
    keepalive_requests 10000000;
    server { listen 127.0.0.1:$UP; location / { default_type text/plain; return 200 "ok\n"; } }
}
CONF
nginx -p "$TMP/up" -c "$TMP/up.conf" -g 'daemon off;' &
PIDS+=($!)
cat >"$TMP/p.toml" <<CONF
[proxy]
workers = 1
listen = ["127.0.0.1:$PX"]
[upstream]
url = "http://127.0.0.1:$UP"
[routes]
unknown = "allow"
[store]
path = "$TMP/store/palisade.redb"
# Analytics sees every request but never blocks the load generator (one address,
# one path, as fast as it can): the count is of proxied requests, not 403s.
[decisions]
allow_cidrs = ["127.0.0.0/8"]
[log]
level = "warn"
format = "json"
CONF
valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.out" "$BIN" run --config "$TMP/p.toml" >"$TMP/vg.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do curl -fs -o /dev/null "http://127.0.0.1:$PX/" && break; sleep 0.2; done
wrk -t1 -c4 -d2s "http://127.0.0.1:$PX/" >/dev/null
callgrind_control -z "${PIDS[1]}" >/dev/null 2>&1
n=$(wrk -t1 -c4 -d5s "http://127.0.0.1:$PX/" | awk '/requests in/ {print $1}')
callgrind_control -d "${PIDS[1]}" >/dev/null 2>&1
sleep 1
total=$(cat "$TMP"/cg.out.* | awk '/^summary:/ {s += $2} END {print s}')
echo "$n requests, $((total / n)) instructions per request ($BIN)"
if [[ -n ${CG_OUT:-} ]]; then mkdir -p "$CG_OUT" && cp "$TMP"/cg.out.* "$CG_OUT"/; fi
