#!/usr/bin/env bash
# Side-by-side load benchmark: Palisade against nginx and haproxy as reverse
# proxies, all in front of the same nginx upstream, on this machine.
#
# Usage:   bench/proxy.sh            (from anywhere; run as root or with sudo available
#                                     if nginx, haproxy, wrk, curl or python3 are missing)
#
# Knobs (environment variables, defaults in brackets):
#   WORKERS=2            worker threads/processes of every proxy (Palisade proxy.workers,
#                        nginx worker_processes, haproxy nbthread)
#   CONNECTIONS=64       wrk connections in the throughput phase
#   WRK_THREADS=2        wrk threads (both phases)
#   DURATION=10s         length of each wrk run in the throughput phase
#   ROUNDS=3             rounds; each round runs every target once, in a rotating order,
#                        and the table shows the median over rounds
#   WARMUP=2s            a wrk run per target before measuring ("0" to skip)
#   RATE_CONNECTIONS=50  fixed-rate phase: connections, each pausing RATE_DELAY_MS
#   RATE_DELAY_MS=10     (uniformly jittered 0.5x..1.5x) between a response and its next
#                        request; 50 x 10 ms gives ~5000 req/s
#   RATE_DURATION=$DURATION  length of each fixed-rate run ("0" skips the phase)
#   UPSTREAM_WORKERS=1   nginx upstream worker_processes
#   PIN=auto             "auto": with >= 4 CPUs give wrk its own cores (taskset);
#                        "0": never pin
#   PALISADE_BIN=path    use this binary instead of building one
#   SKIP_PALISADE=1      leave Palisade out (e.g. to test the script without it)
#   PALISADE_STANDIN=haproxy|nginx  put another haproxy/nginx instance in Palisade's
#                        place (testing the script only; the output says so)
#   CARGO_TARGET_DIR     where cargo builds [$HOME/.cache/palisade-target]
#   RESULTS_DIR          where the table is saved [bench/results]
#   KEEP_TMP=1           keep the temporary directory (configs, logs, raw wrk output)
#
# What it does: installs missing packages (apt-get), builds Palisade in release,
# starts an nginx upstream that answers "ok\n" and the three proxies (each keeping
# connections to the upstream alive) by hand with their own configs, pids and logs
# in a temporary directory, then
#   1. throughput: wrk with CONNECTIONS connections flat out, against the upstream
#      directly and through each proxy: req/s, p50, p99, p99.9;
#   2. fixed rate: RATE_CONNECTIONS connections pacing themselves (wrk's Lua delay())
#      at a moderate rate: the latency each proxy adds over going direct.
# It prints one table and saves it to bench/results/proxy-<date>.txt.
# Every daemon is stopped by pid on exit. See bench/README.md.

set -euo pipefail
export LC_ALL=C

WORKERS=${WORKERS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WRK_THREADS=${WRK_THREADS:-2}
DURATION=${DURATION:-10s}
ROUNDS=${ROUNDS:-3}
WARMUP=${WARMUP:-2s}
RATE_CONNECTIONS=${RATE_CONNECTIONS:-50}
RATE_DELAY_MS=${RATE_DELAY_MS:-10}
RATE_DURATION=${RATE_DURATION:-$DURATION}
UPSTREAM_WORKERS=${UPSTREAM_WORKERS:-1}
PIN=${PIN:-auto}
PALISADE_BIN=${PALISADE_BIN:-}
SKIP_PALISADE=${SKIP_PALISADE:-0}
PALISADE_STANDIN=${PALISADE_STANDIN:-}
KEEP_TMP=${KEEP_TMP:-0}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench/results}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}

log() { printf '[proxy.sh] %s\n' "$*" >&2; }
die() {
    printf '[proxy.sh] ERROR: %s\n' "$*" >&2
    exit 1
}

for knob in WORKERS CONNECTIONS WRK_THREADS ROUNDS RATE_CONNECTIONS RATE_DELAY_MS UPSTREAM_WORKERS; do
    [[ ${!knob} =~ ^[1-9][0-9]*$ ]] || die "$knob must be a positive integer (got '${!knob}')"
done
case "$PALISADE_STANDIN" in
    "" | haproxy | nginx) ;;
    *) die "PALISADE_STANDIN must be haproxy or nginx (got '$PALISADE_STANDIN')" ;;
esac

# ---------------------------------------------------------------------------
# 1. Packages
# ---------------------------------------------------------------------------
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

missing=()
for pair in nginx:nginx haproxy:haproxy wrk:wrk curl:curl python3:python3 taskset:util-linux; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
# Debian's nginx and haproxy packages start system services on install; they
# listen on their own ports and do not disturb this benchmark, which uses its own.
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
[[ -x $NGINX ]] || die "nginx not found"
[[ -x $HAPROXY ]] || die "haproxy not found"

# ---------------------------------------------------------------------------
# 2. Palisade
# ---------------------------------------------------------------------------
PALISADE_LABEL=palisade
if [[ -n $PALISADE_STANDIN ]]; then
    PALISADE_LABEL="palisade*"
    log "PALISADE_STANDIN=$PALISADE_STANDIN: the 'palisade' target is another $PALISADE_STANDIN, NOT Palisade"
elif [[ $SKIP_PALISADE == 1 ]]; then
    log "SKIP_PALISADE=1: Palisade is left out"
elif [[ -n $PALISADE_BIN ]]; then
    [[ -x $PALISADE_BIN ]] || die "PALISADE_BIN=$PALISADE_BIN is not an executable"
else
    command -v cargo >/dev/null || die "cargo not found (install Rust, or set PALISADE_BIN)"
    log "building Palisade (release) into $CARGO_TARGET_DIR"
    PALISADE_BIN=$(cd "$REPO" && cargo build --release -p palisade --bin palisade \
        --message-format=json-render-diagnostics |
        python3 -c '
import json, sys
exe = ""
for line in sys.stdin:
    try:
        msg = json.loads(line)
    except ValueError:
        continue
    if msg.get("reason") == "compiler-artifact" and msg.get("target", {}).get("name") == "palisade" and msg.get("executable"):
        exe = msg["executable"]
print(exe)
') || die "cargo build --release -p palisade --bin palisade failed"
    [[ -n $PALISADE_BIN && -x $PALISADE_BIN ]] || PALISADE_BIN=$CARGO_TARGET_DIR/release/palisade
    [[ -x $PALISADE_BIN ]] || die "built, but cannot find the palisade binary"
fi
[[ -n $PALISADE_BIN && -z $PALISADE_STANDIN && $SKIP_PALISADE != 1 ]] && log "palisade binary: $PALISADE_BIN"

# ---------------------------------------------------------------------------
# 3. Scratch directory, process bookkeeping, cleanup
# ---------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/palisade-bench.XXXXXX")
# nginx workers may run as an unprivileged user when we are root.
chmod 755 "$TMP"
PIDS=()
NAMES=()
WRK_PID=""

cleanup() {
    local rc=$?
    local i pid
    if [[ -n $WRK_PID ]]; then
        kill -TERM "$WRK_PID" 2>/dev/null || true
        wait "$WRK_PID" 2>/dev/null || true
    fi
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        kill -TERM "$pid" 2>/dev/null || true
    done
    for i in "${!PIDS[@]}"; do
        pid=${PIDS[$i]}
        for _ in {1..50}; do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "${NAMES[$i]} (pid $pid) ignored SIGTERM; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    if [[ $KEEP_TMP == 1 || $rc -ne 0 ]]; then
        log "configs, logs and raw wrk output kept in $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Raise the open-file limit as far as allowed (each connection is a descriptor).
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
[[ $FD_LIMIT == unlimited ]] && FD_LIMIT=1048576
((FD_LIMIT >= 1024)) || die "open-file limit $FD_LIMIT is too low (ulimit -n)"
# Caps derived from it (the servers refuse to start when asked for more); the
# benchmark itself needs a few hundred descriptors.
NGINX_CONNS=$((FD_LIMIT / 2 < 16384 ? FD_LIMIT / 2 : 16384))
HAPROXY_MAXCONN=$(((FD_LIMIT - 256) / 2 < 100000 ? (FD_LIMIT - 256) / 2 : 100000))

# ---------------------------------------------------------------------------
# 4. Ports and CPU pinning
# ---------------------------------------------------------------------------
# Bind all four at once so they are distinct, then release them for the servers.
read -r PORT_UP PORT_NGINX PORT_HAPROXY PORT_PALISADE < <(python3 -c '
import socket
socks = []
for _ in range(4):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
[[ -n ${PORT_PALISADE:-} ]] || die "could not pick free ports (python3)"

NPROC=$(nproc)
UP_CPUS=""
PROXY_CPUS=""
WRK_CPUS=""
if [[ $PIN != 0 ]] && ((NPROC >= 4)); then
    if ((NPROC >= UPSTREAM_WORKERS + WORKERS + WRK_THREADS)); then
        UP_CPUS="0-$((UPSTREAM_WORKERS - 1))"
        PROXY_CPUS="$UPSTREAM_WORKERS-$((UPSTREAM_WORKERS + WORKERS - 1))"
        WRK_CPUS="$((UPSTREAM_WORKERS + WORKERS))-$((UPSTREAM_WORKERS + WORKERS + WRK_THREADS - 1))"
        PINNING="upstream on CPUs $UP_CPUS, proxies on $PROXY_CPUS, wrk on $WRK_CPUS (of $NPROC)"
    else
        wrk_n=$((WRK_THREADS < NPROC / 2 ? WRK_THREADS : NPROC / 2))
        UP_CPUS="0-$((NPROC - wrk_n - 1))"
        PROXY_CPUS=$UP_CPUS
        WRK_CPUS="$((NPROC - wrk_n))-$((NPROC - 1))"
        PINNING="upstream and proxies share CPUs $UP_CPUS, wrk on $WRK_CPUS (of $NPROC; too few CPUs to separate upstream and proxies)"
    fi
elif [[ $PIN == 0 ]]; then
    PINNING="none (PIN=0); $NPROC CPUs shared by wrk, the upstream and the proxy"
else
    PINNING="none: only $NPROC CPUs, so wrk, the upstream and the proxy under test share them; absolute figures are contended, compare ratios"
fi

# ---------------------------------------------------------------------------
# 5. Configs and servers
# ---------------------------------------------------------------------------
# Temp paths nginx would otherwise put under /var/lib/nginx.
nginx_temp_paths() {
    local d=$1
    printf '    client_body_temp_path %s/body;\n' "$d"
    printf '    proxy_temp_path %s/proxy;\n' "$d"
    printf '    fastcgi_temp_path %s/fastcgi;\n' "$d"
    printf '    uwsgi_temp_path %s/uwsgi;\n' "$d"
    printf '    scgi_temp_path %s/scgi;\n' "$d"
}

write_nginx_upstream() { # file port workers
    local d=${1%.conf}
    mkdir -p "$d"
    cat >"$1" <<EOF
worker_processes $3;
worker_rlimit_nofile $FD_LIMIT;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections $NGINX_CONNS; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
$(nginx_temp_paths "$d")
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            default_type text/plain;
            return 200 "ok\n";
        }
    }
}
EOF
}

write_nginx_proxy() { # file port workers upstream-port
    local d=${1%.conf}
    mkdir -p "$d"
    cat >"$1" <<EOF
worker_processes $3;
worker_rlimit_nofile $FD_LIMIT;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections $NGINX_CONNS; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
$(nginx_temp_paths "$d")
    upstream backend {
        server 127.0.0.1:$4;
        keepalive 64;
        keepalive_requests 10000000;
        keepalive_timeout 300s;
    }
    server {
        listen 127.0.0.1:$2 backlog=4096;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

write_haproxy() { # file port threads upstream-port
    cat >"$1" <<EOF
global
    nbthread $3
    maxconn $HAPROXY_MAXCONN
    # no "log" line: haproxy logs nothing

defaults
    mode http
    option http-keep-alive
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-keep-alive 60s
    timeout http-request 10s

frontend fe
    bind 127.0.0.1:$2
    default_backend be

backend be
    http-reuse always
    server upstream 127.0.0.1:$4
EOF
}

write_palisade() { # file port workers upstream-port
    cat >"$1" <<EOF
[proxy]
workers = $3
listen = ["127.0.0.1:$2"]

[upstream]
url = "http://127.0.0.1:$4"

[routes]
unknown = "allow"

[tee]
capacity = 65536

[log]
level = "warn"
format = "json"
EOF
}

declare -A PID_OF
# start NAME CPUS LOGFILE cmd args...: starts a server in the background and records
# its pid (a plain command, not a function, goes to the background so that $! is the
# server's own pid: bash execs it, and taskset execs it in turn).
start() {
    local name=$1 cpus=$2 logfile=$3
    shift 3
    local cmd=("$@")
    [[ -n $cpus ]] && cmd=(taskset -c "$cpus" "$@")
    "${cmd[@]}" >"$logfile" 2>&1 &
    PIDS+=("$!")
    NAMES+=("$name")
    PID_OF[$name]=$!
}

# wait_ready NAME PORT LOGFILE: polls until the server answers 200 "ok" (bounded).
wait_ready() {
    local name=$1 port=$2 logfile=$3 pid=${PID_OF[$1]} status="" body=""
    for _ in {1..150}; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during start-up; its output ($logfile):"
            tail -n 30 "$logfile" >&2 || true
            die "$name did not start"
        fi
        status=$(curl -sS --max-time 1 -o "$TMP/ready-body" -w '%{http_code}' \
            "http://127.0.0.1:$port/" 2>/dev/null) || status="no answer"
        body=$(head -c 300 "$TMP/ready-body" 2>/dev/null || true)
        if [[ $status == 200 && $body == ok ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer 200 \"ok\" on 127.0.0.1:$port within 15 s; last status: $status, body: '$body'; its output ($logfile):"
    tail -n 30 "$logfile" >&2 || true
    die "$name is not serving"
}

log "ports: upstream $PORT_UP, nginx $PORT_NGINX, haproxy $PORT_HAPROXY, palisade $PORT_PALISADE"
log "pinning: $PINNING"

write_nginx_upstream "$TMP/upstream.conf" "$PORT_UP" "$UPSTREAM_WORKERS"
start upstream "$UP_CPUS" "$TMP/upstream.out" \
    "$NGINX" -p "$TMP/upstream" -e "$TMP/upstream/error.log" -c "$TMP/upstream.conf" -g 'daemon off;'
wait_ready upstream "$PORT_UP" "$TMP/upstream.out"

write_nginx_proxy "$TMP/nginx.conf" "$PORT_NGINX" "$WORKERS" "$PORT_UP"
start nginx "$PROXY_CPUS" "$TMP/nginx.out" \
    "$NGINX" -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx.conf" -g 'daemon off;'

write_haproxy "$TMP/haproxy.cfg" "$PORT_HAPROXY" "$WORKERS" "$PORT_UP"
"$HAPROXY" -c -q -f "$TMP/haproxy.cfg" || die "haproxy rejected $TMP/haproxy.cfg"
start haproxy "$PROXY_CPUS" "$TMP/haproxy.out" "$HAPROXY" -db -f "$TMP/haproxy.cfg"

TARGETS=(direct nginx haproxy)
declare -A PORT_OF=([direct]=$PORT_UP [nginx]=$PORT_NGINX [haproxy]=$PORT_HAPROXY)
case "$PALISADE_STANDIN" in
    haproxy)
        write_haproxy "$TMP/standin.cfg" "$PORT_PALISADE" "$WORKERS" "$PORT_UP"
        start palisade "$PROXY_CPUS" "$TMP/palisade.out" "$HAPROXY" -db -f "$TMP/standin.cfg"
        ;;
    nginx)
        write_nginx_proxy "$TMP/standin.conf" "$PORT_PALISADE" "$WORKERS" "$PORT_UP"
        start palisade "$PROXY_CPUS" "$TMP/palisade.out" \
            "$NGINX" -p "$TMP/standin" -e "$TMP/standin/error.log" -c "$TMP/standin.conf" -g 'daemon off;'
        ;;
    *)
        if [[ $SKIP_PALISADE != 1 ]]; then
            write_palisade "$TMP/palisade.toml" "$PORT_PALISADE" "$WORKERS" "$PORT_UP"
            start palisade "$PROXY_CPUS" "$TMP/palisade.out" "$PALISADE_BIN" run --config "$TMP/palisade.toml"
        fi
        ;;
esac
if [[ -n $PALISADE_STANDIN || $SKIP_PALISADE != 1 ]]; then
    TARGETS+=(palisade)
    PORT_OF[palisade]=$PORT_PALISADE
fi

wait_ready nginx "$PORT_NGINX" "$TMP/nginx.out"
wait_ready haproxy "$PORT_HAPROXY" "$TMP/haproxy.out"
if [[ -n ${PORT_OF[palisade]:-} ]]; then
    wait_ready palisade "$PORT_PALISADE" "$TMP/palisade.out"
fi
log "all servers answer: ${TARGETS[*]}"

# ---------------------------------------------------------------------------
# 6. Measuring
# ---------------------------------------------------------------------------
# wrk's Lua `done` hook prints one machine-readable line (latencies in µs).
DONE_LUA='
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d rps=%.1f p50_us=%.0f p99_us=%.0f p999_us=%.0f errors=%d non2xx=%d\n",
    summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99), latency:percentile(99.9),
    e.connect + e.read + e.write + e.timeout, e.status))
end
'
printf '%s\n' "$DONE_LUA" >"$TMP/report.lua"
# Fixed rate: each connection waits RATE_DELAY_MS (jittered 0.5x..1.5x, so the
# connections do not fire in lockstep) after a response before its next request.
# wrk starts a request's latency clock when it writes it, after the delay.
cat >"$TMP/rate.lua" <<EOF
$DONE_LUA
local lo = math.max(0, math.floor($RATE_DELAY_MS / 2))
local hi = math.floor($RATE_DELAY_MS * 3 / 2)
init = function(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end
delay = function()
  return math.random(lo, hi)
end
EOF

declare -A M # "phase:target:metric" -> space-separated values, one per round
RAW="$TMP/wrk"
mkdir -p "$RAW"

CLK_TCK=$(getconf CLK_TCK)
# tree_ticks PID: CPU clock ticks (user + system) used so far by a process, all its
# threads, and its direct children (nginx's workers), from /proc.
tree_ticks() {
    local p t total=0 f
    for p in "$1" $(pgrep -P "$1" || true); do
        for t in /proc/"$p"/task/*/stat; do
            [[ -r $t ]] || continue
            read -r -a f <"$t" || continue
            total=$((total + f[13] + f[14]))
        done
    done
    echo "$total"
}
# The process whose CPU a target's requests cost: the proxy itself (for "direct",
# the upstream).
cpu_pid() { if [[ $1 == direct ]]; then echo "${PID_OF[upstream]}"; else echo "${PID_OF[$1]}"; fi; }

# run_wrk PHASE TARGET ROUND CONNS DURATION SCRIPT
run_wrk() {
    local phase=$1 target=$2 round=$3 conns=$4 dur=$5 script=$6
    local out="$RAW/$phase-$target-$round.txt" line k v
    local cmd=(wrk -t "$WRK_THREADS" -c "$conns" -d "$dur" --timeout 5s --latency
        -s "$script" "http://127.0.0.1:${PORT_OF[$target]}/")
    [[ -n $WRK_CPUS ]] && cmd=(taskset -c "$WRK_CPUS" "${cmd[@]}")
    # In the background plus `wait`, so that a signal to this script is handled at
    # once (bash defers traps until a foreground command ends) and cleanup stops wrk.
    local pid ticks_before ticks_after
    pid=$(cpu_pid "$target")
    ticks_before=$(tree_ticks "$pid")
    "${cmd[@]}" >"$out" 2>&1 &
    WRK_PID=$!
    local rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    ticks_after=$(tree_ticks "$pid")
    if ((rc != 0)); then
        cat "$out" >&2
        die "wrk failed against $target (exit $rc)"
    fi
    line=$(grep '^RESULT ' "$out") || {
        cat "$out" >&2
        die "no RESULT line from wrk against $target"
    }
    local requests
    requests=$(sed -n 's/.* requests=\([0-9]*\).*/\1/p' <<<"$line")
    line+=" cpu_us=$(awk -v t=$((ticks_after - ticks_before)) -v hz="$CLK_TCK" -v n="$requests" \
        'BEGIN { printf "%.1f", (n > 0 ? t * 1e6 / hz / n : 0) }')"
    for kv in ${line#RESULT }; do
        k=${kv%%=*}
        v=${kv#*=}
        M[$phase:$target:$k]="${M[$phase:$target:$k]:-} $v"
    done
    if [[ $phase != warmup ]]; then
        log "  $phase round $round $(printf '%-9s' "$target") ${line#RESULT }"
    fi
}

# median of the numbers given as arguments
median() {
    printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
med() { # phase target metric
    # shellcheck disable=SC2086 # word splitting of the value list is the point
    median ${M[$1:$2:$3]:-}
}
sum() { # phase target metric
    # shellcheck disable=SC2086
    printf '%s\n' ${M[$1:$2:$3]:-} | awk '{ s += $1 } END { print s + 0 }'
}

# Runs every target once per round, rotating the order each round so slow drift
# (thermal, neighbours) hits all targets alike.
run_phase() { # phase conns duration script
    local phase=$1 conns=$2 dur=$3 script=$4 r i n=${#TARGETS[@]}
    for ((r = 1; r <= ROUNDS; r++)); do
        for ((i = 0; i < n; i++)); do
            run_wrk "$phase" "${TARGETS[$(((i + r - 1) % n))]}" "$r" "$conns" "$dur" "$script"
        done
    done
}

if [[ $WARMUP != 0 ]]; then
    log "warm-up: $WARMUP per target"
    for t in "${TARGETS[@]}"; do
        run_wrk warmup "$t" 0 "$CONNECTIONS" "$WARMUP" "$TMP/report.lua"
    done
fi

log "throughput: $ROUNDS round(s) x ${#TARGETS[@]} targets x $DURATION, $CONNECTIONS connections, $WRK_THREADS wrk threads"
run_phase tput "$CONNECTIONS" "$DURATION" "$TMP/report.lua"

if [[ $RATE_DURATION != 0 ]]; then
    log "fixed rate: $ROUNDS round(s) x ${#TARGETS[@]} targets x $RATE_DURATION, $RATE_CONNECTIONS connections pausing ~${RATE_DELAY_MS} ms"
    run_phase rate "$RATE_CONNECTIONS" "$RATE_DURATION" "$TMP/rate.lua"
fi

# Every server must still be up: a proxy that died mid-run would have shown errors.
for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || die "${NAMES[$i]} died during the benchmark (log in $TMP)"
done

# ---------------------------------------------------------------------------
# 7. Report
# ---------------------------------------------------------------------------
mkdir -p "$RESULTS_DIR"
STAMP=$(date +%Y-%m-%d-%H%M%S)
RESULT_FILE="$RESULTS_DIR/proxy-$STAMP.txt"

version_of() { "$@" 2>&1 | head -n 1 || true; }
report() {
    local t rps nginx_rps ratio errs
    echo "Palisade proxy benchmark, $(date -u '+%Y-%m-%d %H:%M:%SZ')"
    echo "host:     $(uname -srm), $NPROC CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || echo '?'))"
    echo "commit:   $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$REPO" diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "versions: $(version_of "$NGINX" -v); $(version_of "$HAPROXY" -v); $(version_of wrk -v | cut -d' ' -f1-2)"
    if [[ -n $PALISADE_STANDIN ]]; then
        echo "palisade: NOT MEASURED: the 'palisade*' row is a stand-in $PALISADE_STANDIN (PALISADE_STANDIN)"
    elif [[ $SKIP_PALISADE == 1 ]]; then
        echo "palisade: not measured (SKIP_PALISADE=1)"
    else
        echo "palisade: $PALISADE_BIN"
    fi
    echo "setup:    upstream nginx ($UPSTREAM_WORKERS worker) returns 200 \"ok\"; proxies with $WORKERS workers, keep-alive upstream"
    echo "pinning:  $PINNING"
    echo "load:     $ROUNDS round(s), rotating order; medians over rounds"
    echo
    echo "Throughput: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION (latencies in µs; cpu-us/req: CPU time"
    echo "the proxy process itself spent per request, user + system, from /proc; for direct, the upstream's)"
    printf '%-10s %10s %15s %8s %8s %8s %12s %8s\n' target req/s ratio-to-nginx p50 p99 p99.9 cpu-us/req errors
    nginx_rps=$(med tput nginx rps)
    for t in "${TARGETS[@]}"; do
        rps=$(med tput "$t" rps)
        if [[ $t == direct ]]; then
            ratio="-"
        else
            ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        fi
        errs=$(($(sum tput "$t" errors) + $(sum tput "$t" non2xx)))
        printf '%-10s %10.0f %15s %8.0f %8.0f %8.0f %12.1f %8d\n' "$(label "$t")" "$rps" "$ratio" \
            "$(med tput "$t" p50_us)" "$(med tput "$t" p99_us)" "$(med tput "$t" p999_us)" \
            "$(med tput "$t" cpu_us)" "$errs"
    done
    if [[ $RATE_DURATION != 0 ]]; then
        local d50 d99 added=()
        d50=$(med rate direct p50_us)
        d99=$(med rate direct p99_us)
        echo
        echo "Fixed rate: wrk -t$WRK_THREADS -c$RATE_CONNECTIONS -d$RATE_DURATION, each connection pausing ${RATE_DELAY_MS} ms (±50%) between requests (latencies in µs)"
        printf '%-10s %10s %8s %8s %8s %10s %10s %8s\n' target req/s p50 p99 p99.9 +p50 +p99 errors
        for t in "${TARGETS[@]}"; do
            local p50 p99 a50 a99
            p50=$(med rate "$t" p50_us)
            p99=$(med rate "$t" p99_us)
            if [[ $t == direct ]]; then
                a50="-"
                a99="-"
            else
                a50=$(awk -v a="$p50" -v b="$d50" 'BEGIN { printf "%+.0f", a - b }')
                a99=$(awk -v a="$p99" -v b="$d99" 'BEGIN { printf "%+.0f", a - b }')
                added+=("$(label "$t") $a50 us")
            fi
            errs=$(($(sum rate "$t" errors) + $(sum rate "$t" non2xx)))
            printf '%-10s %10.0f %8.0f %8.0f %8.0f %10s %10s %8d\n' "$(label "$t")" "$(med rate "$t" rps)" \
                "$p50" "$p99" "$(med rate "$t" p999_us)" "$a50" "$a99" "$errs"
        done
        local joined
        joined=$(printf '%s, ' "${added[@]}")
        printf 'fixed rate ~%.0f req/s: added p50 over direct: %s\n' "$(med rate direct rps)" "${joined%, }"
    fi
}
label() { if [[ $1 == palisade ]]; then echo "$PALISADE_LABEL"; else echo "$1"; fi; }

echo
report | tee "$RESULT_FILE"
echo
log "saved to ${RESULT_FILE#"$REPO"/}"
