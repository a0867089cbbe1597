#!/usr/bin/env bash
# Side-by-side load benchmark: Palisade against nginx and haproxy as reverse
# proxies, and Palisade with its full policy against nginx with ModSecurity and
# the OWASP CRS, all in front of the same nginx upstream, on this machine.
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
#   PAIRS=20             paired phase: sets of nginx, palisade and palisade-full run
#   PAIR_DURATION=3s     back to back, PAIR_DURATION each ("0" PAIRS skips the phase)
#   UPSTREAM_WORKERS=1   nginx upstream worker_processes
#   PIN=auto             "auto": with >= 4 CPUs give wrk its own cores (taskset);
#                        "0": never pin
#   PALISADE_BIN=path    use this binary instead of building one
#   PALISADE_PROFILE=dist  cargo profile to build Palisade with when PALISADE_BIN is
#                        unset (dist: release with fat LTO, the build to deploy; see
#                        Cargo.toml)
#   SKIP_PALISADE=1      leave Palisade out (e.g. to test the script without it);
#                        also leaves palisade-full out
#   SKIP_MODSEC=1        leave nginx-modsec (nginx + ModSecurity v3 + OWASP CRS) out
#   SKIP_FULL=1          leave palisade-full (Palisade with JWT, rate limit and
#                        signatures, from bench/palisade-full.toml.in) out
#   FLEET=1              add palisade-fleet: palisade-full in fleet mode (a local
#                        redis-server started here) with its rate limit made
#                        scope = "cluster": the request-path cost of fleet mode
#   PALISADE_STANDIN=haproxy|nginx  put another haproxy/nginx instance in Palisade's
#                        place (testing the script only; the output says so)
#   CARGO_TARGET_DIR     where cargo builds [$HOME/.cache/palisade-target]
#   RESULTS_DIR          where the table is saved [bench/results]
#   KEEP_TMP=1           keep the temporary directory (configs, logs, raw wrk output)
#
# What it does: installs missing packages (apt-get), builds Palisade (profile dist),
# starts an nginx upstream that answers "ok\n" and the proxies (nginx, haproxy,
# palisade, nginx-modsec, palisade-full; each keeping connections to the upstream
# alive) by hand with their own configs, pids and logs in a temporary directory,
# makes an RSA key and an RS256 JWT that every request carries, checks that
# nginx-modsec blocks an attack (403) and palisade-full refuses a request without
# the token (401), then
#   1. throughput: wrk with CONNECTIONS connections flat out, against the upstream
#      directly and through each proxy: req/s, p50, p99, p99.9;
#   2. fixed rate: RATE_CONNECTIONS connections pacing themselves (wrk's Lua delay())
#      at a moderate rate: the latency each proxy adds over going direct;
#   3. paired: short throughput runs of nginx and the Palisade targets back to back,
#      many times, each Palisade run against the nginx run of its own set: drift of
#      the machine slower than a set (neighbours, frequency) cancels out of these
#      ratios, which the rounds of phase 1, a minute apart, cannot offer; noise
#      faster than a run does not (on the 2-core VM of the README it dominated).
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
PAIRS=${PAIRS:-20}
PAIR_DURATION=${PAIR_DURATION:-3s}
UPSTREAM_WORKERS=${UPSTREAM_WORKERS:-1}
PIN=${PIN:-auto}
PALISADE_BIN=${PALISADE_BIN:-}
PALISADE_PROFILE=${PALISADE_PROFILE:-dist}
SKIP_PALISADE=${SKIP_PALISADE:-0}
SKIP_MODSEC=${SKIP_MODSEC:-0}
SKIP_FULL=${SKIP_FULL:-0}
FLEET=${FLEET:-0}
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
for knob in SKIP_MODSEC SKIP_FULL FLEET; do
    [[ ${!knob} == 0 || ${!knob} == 1 ]] || die "$knob must be 0 or 1 (got '${!knob}')"
done
# palisade-full needs a real Palisade binary.
if [[ $SKIP_FULL != 1 && ($SKIP_PALISADE == 1 || -n $PALISADE_STANDIN) ]]; then
    log "palisade-full is left out too (it needs the Palisade binary; SKIP_PALISADE or PALISADE_STANDIN is set)"
    SKIP_FULL=1
fi
if [[ $FLEET == 1 && $SKIP_FULL == 1 ]]; then
    die "FLEET=1 needs palisade-full (it is palisade-full in fleet mode); unset SKIP_FULL"
fi

# Every request, to every target, carries the same headers: a named Host (a
# deployment is reached by name; with "127.0.0.1:port" the CRS would score every
# request for a numeric Host, rule 920350) and the benchmark's JWT (made below),
# which palisade-full verifies and the others pass through untouched.
BENCH_HOST=bench.palisade.test

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
for pair in nginx:nginx haproxy:haproxy wrk:wrk curl:curl python3:python3 taskset:util-linux openssl:openssl; do
    command -v "${pair%%:*}" >/dev/null || missing+=("${pair#*:}")
done
if [[ $FLEET == 1 ]]; then
    command -v redis-server >/dev/null || missing+=(redis-server)
fi
# nginx-modsec: Debian's ModSecurity v3 connector for nginx (it pulls libmodsecurity3)
# and the OWASP CRS rules.
MODSEC_MODULE=/usr/lib/nginx/modules/ngx_http_modsecurity_module.so
CRS_RULES=/usr/share/modsecurity-crs/rules
if [[ $SKIP_MODSEC != 1 ]]; then
    [[ -f $MODSEC_MODULE ]] || missing+=(libnginx-mod-http-modsecurity)
    [[ -f $CRS_RULES/REQUEST-949-BLOCKING-EVALUATION.conf ]] || missing+=(modsecurity-crs)
fi
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
if [[ $SKIP_MODSEC != 1 ]]; then
    [[ -f $MODSEC_MODULE ]] || die "$MODSEC_MODULE not found (package libnginx-mod-http-modsecurity); SKIP_MODSEC=1 leaves nginx-modsec out"
    [[ -f $CRS_RULES/REQUEST-949-BLOCKING-EVALUATION.conf ]] ||
        die "OWASP CRS rules not found in $CRS_RULES (package modsecurity-crs); SKIP_MODSEC=1 leaves nginx-modsec out"
    # Installed by libnginx-mod-http-modsecurity, in /etc as a conffile and in
    # /usr/share as documentation; either is the same file.
    UNICODE_MAPPING=""
    for f in /usr/share/nginx/docs/modsecurity/unicode.mapping /etc/nginx/unicode.mapping; do
        if [[ -f $f ]]; then
            UNICODE_MAPPING=$f
            break
        fi
    done
    [[ -n $UNICODE_MAPPING ]] || die "ModSecurity's unicode.mapping not found (package libnginx-mod-http-modsecurity)"
fi

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
    log "building Palisade (profile $PALISADE_PROFILE) into $CARGO_TARGET_DIR"
    PALISADE_BIN=$(cd "$REPO" && cargo build --profile "$PALISADE_PROFILE" -p palisade --bin palisade \
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
') || die "cargo build --profile $PALISADE_PROFILE -p palisade --bin palisade failed"
    [[ -n $PALISADE_BIN && -x $PALISADE_BIN ]] || PALISADE_BIN=$CARGO_TARGET_DIR/$PALISADE_PROFILE/palisade
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
# 4. The benchmark's RSA key pair and RS256 token
# ---------------------------------------------------------------------------
# A fresh key pair per run; palisade-full trusts the public key. The token is sent
# on every request to every target.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/jwt-private.pem" 2>"$TMP/openssl.out" ||
    die "openssl genpkey failed: $(cat "$TMP/openssl.out")"
openssl pkey -in "$TMP/jwt-private.pem" -pubout -out "$TMP/jwt-public.pem" 2>"$TMP/openssl.out" ||
    die "openssl pkey -pubout failed: $(cat "$TMP/openssl.out")"
JWT_EXP=$(($(date +%s) + 86400))
JWT_SIGNED="$(printf '%s' '{"alg":"RS256","typ":"JWT"}' | b64url).$(printf '{"sub":"bench-user","scope":"bench","exp":%d}' "$JWT_EXP" | b64url)"
JWT_SIG=$(printf '%s' "$JWT_SIGNED" | openssl dgst -sha256 -sign "$TMP/jwt-private.pem" -binary | b64url)
[[ -n $JWT_SIG ]] || die "openssl dgst -sha256 -sign produced no signature"
TOKEN="$JWT_SIGNED.$JWT_SIG"
# The same token with its signature's first character changed: well-formed, but
# its signature does not verify.
case ${JWT_SIG:0:1} in A) bad=B ;; *) bad=A ;; esac
BAD_TOKEN="$JWT_SIGNED.$bad${JWT_SIG:1}"
# Check the signature with the public key before anything relies on it.
printf '%s' "$JWT_SIG" | tr -- '-_' '+/' | awk '{ n = length($0) % 4; printf "%s", $0; if (n) for (i = n; i < 4; i++) printf "=" }' |
    openssl base64 -d -A >"$TMP/jwt.sig"
printf '%s' "$JWT_SIGNED" | openssl dgst -sha256 -verify "$TMP/jwt-public.pem" -signature "$TMP/jwt.sig" >/dev/null ||
    die "the benchmark's JWT does not verify with its own public key (openssl)"
REQ_HEADERS=(-H "Host: $BENCH_HOST" -H "Authorization: Bearer $TOKEN")

# ---------------------------------------------------------------------------
# 5. Ports and CPU pinning
# ---------------------------------------------------------------------------
# Bind them all at once so they are distinct, then release them for the servers.
read -r PORT_UP PORT_NGINX PORT_HAPROXY PORT_PALISADE PORT_MODSEC PORT_FULL PORT_FLEET PORT_REDIS < <(python3 -c '
import socket
socks = []
for _ in range(8):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
')
[[ -n ${PORT_REDIS:-} ]] || die "could not pick free ports (python3)"

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
# 6. Configs and servers
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

# nginx-modsec: the nginx proxy above plus ModSecurity v3 in blocking mode with the
# OWASP CRS (paranoia level 1, anomaly scoring, inbound threshold 5), no audit log.
# The rules file is assembled in the temporary directory from bench/modsec/.
write_nginx_modsec() { # file port workers upstream-port
    local d=${1%.conf}
    mkdir -p "$d" "$d/modsec/tmp" "$d/modsec/data"
    # nginx's workers may run as another user when we are root.
    chmod 1777 "$d/modsec/tmp" "$d/modsec/data"
    sed -e "s|@MODSEC_DIR@|$d/modsec|g" -e "s|@UNICODE_MAPPING@|$UNICODE_MAPPING|g" \
        "$REPO/bench/modsec/modsecurity.conf.in" >"$d/modsec/modsecurity.conf"
    if grep -q '@[A-Z_]*@' "$d/modsec/modsecurity.conf"; then
        die "unfilled placeholder in $d/modsec/modsecurity.conf: $(grep -m1 '@[A-Z_]*@' "$d/modsec/modsecurity.conf")"
    fi
    cp "$REPO/bench/modsec/crs-setup.conf" "$d/modsec/crs-setup.conf"
    # The order of Debian's /usr/share/modsecurity-crs/owasp-crs.load, without its
    # local exclusion files (only commented examples as shipped) in /etc/modsecurity/crs/.
    cat >"$d/modsec/main.conf" <<EOF
Include $d/modsec/modsecurity.conf
Include $d/modsec/crs-setup.conf
Include $CRS_RULES/*.conf
EOF
    cat >"$1" <<EOF
load_module $MODSEC_MODULE;
worker_processes $3;
worker_rlimit_nofile $FD_LIMIT;
pid $d/nginx.pid;
# notice: ModSecurity-nginx reports the number of rules it loaded at start-up.
error_log $d/error.log notice;
events { worker_connections $NGINX_CONNS; }
http {
    access_log off;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
$(nginx_temp_paths "$d")
    modsecurity on;
    modsecurity_rules_file $d/modsec/main.conf;
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

[store]
path = "$1.data/palisade.redb"

# The load generator asks for one path from one address as fast as it can: the
# analytics worker sees every request (and reports scraping), but must not block
# the benchmark's own client, or the run would measure 403s.
[decisions]
allow_cidrs = ["127.0.0.0/8"]

# Its own free port: palisade and palisade-full run side by side.
[admin]
listen = "127.0.0.1:0"

[log]
level = "warn"
format = "json"
EOF
}

# palisade-full: bench/palisade-full.toml.in with its placeholders filled in.
write_palisade_full() { # file port workers upstream-port public-key
    sed -e "s|@LISTEN@|127.0.0.1:$2|g" -e "s|@WORKERS@|$3|g" \
        -e "s|@UPSTREAM@|http://127.0.0.1:$4|g" -e "s|@PUBKEY@|$5|g" \
        -e "s|@STORE@|$1.data/palisade.redb|g" \
        "$REPO/bench/palisade-full.toml.in" >"$1"
    if grep -q '@[A-Z_]*@' "$1"; then
        die "unfilled placeholder in $1: $(grep -m1 '@[A-Z_]*@' "$1")"
    fi
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

# wait_ready NAME PORT LOGFILE: polls until the server answers 200 "ok" to the
# benchmark's request (bounded).
declare -A HINT_OF
wait_ready() {
    local name=$1 port=$2 logfile=$3 pid=${PID_OF[$1]} status="" body=""
    for _ in {1..150}; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$name exited during start-up; its output ($logfile):"
            tail -n 30 "$logfile" >&2 || true
            die "$name did not start"
        fi
        status=$(curl -sS --max-time 1 -o "$TMP/ready-body" -w '%{http_code}' "${REQ_HEADERS[@]}" \
            "http://127.0.0.1:$port/" 2>/dev/null) || status="no answer"
        body=$(head -c 300 "$TMP/ready-body" 2>/dev/null || true)
        if [[ $status == 200 && $body == ok ]]; then
            return 0
        fi
        sleep 0.1
    done
    log "$name did not answer 200 \"ok\" on 127.0.0.1:$port within 15 s; last status: $status, body: '$body'; its output ($logfile):"
    tail -n 30 "$logfile" >&2 || true
    die "$name is not serving${HINT_OF[$name]:+ (${HINT_OF[$name]})}"
}

# status_of PORT PATH [curl args...]: the HTTP status of one GET, or "no answer".
status_of() {
    local port=$1 path=$2 st
    shift 2
    st=$(curl -sS --max-time 5 -o "$TMP/check-body" -w '%{http_code}' "$@" "http://127.0.0.1:$port$path" \
        2>/dev/null) || st="no answer"
    echo "$st"
}

log "ports: upstream $PORT_UP, nginx $PORT_NGINX, haproxy $PORT_HAPROXY, palisade $PORT_PALISADE, nginx-modsec $PORT_MODSEC, palisade-full $PORT_FULL"
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

if [[ $SKIP_MODSEC != 1 ]]; then
    write_nginx_modsec "$TMP/nginx-modsec.conf" "$PORT_MODSEC" "$WORKERS" "$PORT_UP"
    # nginx -t loads the module and compiles every rule: a clear error if either fails.
    if ! "$NGINX" -t -q -p "$TMP/nginx-modsec" -e "$TMP/nginx-modsec/error.log" -c "$TMP/nginx-modsec.conf" \
        >"$TMP/nginx-modsec.test" 2>&1; then
        cat "$TMP/nginx-modsec.test" >&2
        die "nginx-modsec: nginx rejected $TMP/nginx-modsec.conf (ModSecurity module or CRS rules did not load; output above)"
    fi
    start nginx-modsec "$PROXY_CPUS" "$TMP/nginx-modsec.out" \
        "$NGINX" -p "$TMP/nginx-modsec" -e "$TMP/nginx-modsec/error.log" -c "$TMP/nginx-modsec.conf" -g 'daemon off;'
    TARGETS+=(nginx-modsec)
    PORT_OF[nginx-modsec]=$PORT_MODSEC
fi

if [[ $SKIP_FULL != 1 ]]; then
    write_palisade_full "$TMP/palisade-full.toml" "$PORT_FULL" "$WORKERS" "$PORT_UP" "$TMP/jwt-public.pem"
    HINT_OF[palisade-full]="is JWT support merged? SKIP_FULL=1 leaves palisade-full out"
    if ! "$PALISADE_BIN" check --config "$TMP/palisade-full.toml" >"$TMP/palisade-full.check" 2>&1; then
        cat "$TMP/palisade-full.check" >&2
        die "palisade-full: palisade check rejected $TMP/palisade-full.toml (from bench/palisade-full.toml.in; output above) — are JWT and signatures support merged? SKIP_FULL=1 leaves palisade-full out"
    fi
    start palisade-full "$PROXY_CPUS" "$TMP/palisade-full.out" "$PALISADE_BIN" run --config "$TMP/palisade-full.toml"
    TARGETS+=(palisade-full)
    PORT_OF[palisade-full]=$PORT_FULL
fi

if [[ $FLEET == 1 ]]; then
    # Redis on loopback, nothing saved; shares the proxies' CPUs like the upstream.
    start redis "$UP_CPUS" "$TMP/redis.out" redis-server --port "$PORT_REDIS" --bind 127.0.0.1 \
        --save "" --appendonly no
    write_palisade_full "$TMP/palisade-fleet.toml" "$PORT_FLEET" "$WORKERS" "$PORT_UP" "$TMP/jwt-public.pem"
    sed -i -e 's|^rate_limit = { client = "1000000/s" }|rate_limit = { client = "1000000/s", scope = "cluster" }|' \
        -e "s|palisade-full.toml.data|palisade-fleet.toml.data|" "$TMP/palisade-fleet.toml"
    grep -q 'scope = "cluster"' "$TMP/palisade-fleet.toml" ||
        die "palisade-fleet: bench/palisade-full.toml.in no longer has the rate_limit line this script makes cluster-scoped"
    printf '\n[fleet]\nenabled = true\nurl = "redis://127.0.0.1:%s/0"\nservice = "bench"\n' "$PORT_REDIS" \
        >>"$TMP/palisade-fleet.toml"
    if ! "$PALISADE_BIN" check --config "$TMP/palisade-fleet.toml" >"$TMP/palisade-fleet.check" 2>&1; then
        cat "$TMP/palisade-fleet.check" >&2
        die "palisade-fleet: palisade check rejected $TMP/palisade-fleet.toml (output above) — is fleet mode merged?"
    fi
    start palisade-fleet "$PROXY_CPUS" "$TMP/palisade-fleet.out" "$PALISADE_BIN" run --config "$TMP/palisade-fleet.toml"
    TARGETS+=(palisade-fleet)
    PORT_OF[palisade-fleet]=$PORT_FLEET
fi

wait_ready nginx "$PORT_NGINX" "$TMP/nginx.out"
wait_ready haproxy "$PORT_HAPROXY" "$TMP/haproxy.out"
if [[ -n ${PORT_OF[palisade]:-} ]]; then
    wait_ready palisade "$PORT_PALISADE" "$TMP/palisade.out"
fi

# The attack probe: a classic SQL injection in the query string,
# /?id=1' OR '1'='1 (URL-encoded). The CRS scores it critical (942100, libinjection),
# which alone reaches the inbound threshold of 5.
ATTACK_PATH="/?id=1%27%20OR%20%271%27%3D%271"
MODSEC_RULES="?"
if [[ -n ${PORT_OF[nginx-modsec]:-} ]]; then
    wait_ready nginx-modsec "$PORT_MODSEC" "$TMP/nginx-modsec.out"
    st=$(status_of "$PORT_MODSEC" / "${REQ_HEADERS[@]}")
    [[ $st == 200 ]] || die "nginx-modsec: expected 200 for a clean request, got $st (CRS false positive? see $TMP/nginx-modsec/error.log)"
    st=$(status_of "$PORT_MODSEC" "$ATTACK_PATH" "${REQ_HEADERS[@]}")
    [[ $st == 403 ]] ||
        die "nginx-modsec: expected 403 for GET $ATTACK_PATH, got $st — ModSecurity is not blocking (module not active, CRS not loaded, or not in blocking mode; see $TMP/nginx-modsec/error.log)"
    # "ModSecurity-nginx v1.0.3 (rules loaded inline/local/remote: 0/N/0)"
    MODSEC_RULES=$(grep -o 'rules loaded inline/local/remote: [0-9/]*' "$TMP/nginx-modsec/error.log" | tail -n 1 |
        awk -F'[ /]' '{ print $(NF - 1) }') || true
    [[ -n $MODSEC_RULES ]] || MODSEC_RULES="?"
    log "nginx-modsec: clean request 200, GET $ATTACK_PATH 403 (ModSecurity rules loaded: $MODSEC_RULES)"
fi
if [[ -n ${PORT_OF[palisade-full]:-} ]]; then
    wait_ready palisade-full "$PORT_FULL" "$TMP/palisade-full.out"
    st=$(status_of "$PORT_FULL" / -H "Host: $BENCH_HOST")
    [[ $st == 401 ]] || die "palisade-full: expected 401 without a token, got $st — is JWT support merged?"
    st=$(status_of "$PORT_FULL" / -H "Host: $BENCH_HOST" -H "Authorization: Bearer $BAD_TOKEN")
    [[ $st == 401 ]] || die "palisade-full: expected 401 for a token with a wrong signature, got $st — is the RS256 key used?"
    st=$(status_of "$PORT_FULL" "$ATTACK_PATH" "${REQ_HEADERS[@]}")
    [[ $st == 403 ]] ||
        die "palisade-full: expected 403 for GET $ATTACK_PATH with a valid token, got $st — is signature inspection merged and in block mode?"
    log "palisade-full: 200 with the token, 401 without it and with a bad signature, 403 for GET $ATTACK_PATH"
fi
if [[ -n ${PORT_OF[palisade-fleet]:-} ]]; then
    wait_ready palisade-fleet "$PORT_FLEET" "$TMP/palisade-fleet.out"
    st=$(status_of "$PORT_FLEET" / -H "Host: $BENCH_HOST")
    [[ $st == 401 ]] || die "palisade-fleet: expected 401 without a token, got $st"
    keys=$(redis-cli -p "$PORT_REDIS" --scan --pattern 'palisade:bench:limit:*' | wc -l)
    ((keys > 0)) || die "palisade-fleet: no cluster limit bucket in Redis after a request — is scope = \"cluster\" in force?"
    log "palisade-fleet: 200 with the token, its limit's bucket in Redis ($keys key(s))"
fi
log "all servers answer: ${TARGETS[*]}"

# ---------------------------------------------------------------------------
# 7. Measuring
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
        "${REQ_HEADERS[@]}" -s "$script" "http://127.0.0.1:${PORT_OF[$target]}/")
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
        log "  $phase round $round $(printf '%-13s' "$target") ${line#RESULT }"
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

# Paired: nginx and the Palisade targets back to back, rotating order, PAIRS times.
PAIRED=()
for t in nginx palisade palisade-full; do
    [[ -n ${PORT_OF[$t]:-} ]] && PAIRED+=("$t")
done
if [[ $PAIRS != 0 ]] && ((${#PAIRED[@]} > 1)); then
    log "paired: $PAIRS set(s) of ${PAIRED[*]} x $PAIR_DURATION back to back, $CONNECTIONS connections"
    for ((r = 1; r <= PAIRS; r++)); do
        for ((i = 0; i < ${#PAIRED[@]}; i++)); do
            run_wrk pair "${PAIRED[$(((i + r - 1) % ${#PAIRED[@]}))]}" "$r" "$CONNECTIONS" "$PAIR_DURATION" \
                "$TMP/report.lua"
        done
    done
fi

# Every server must still be up: a proxy that died mid-run would have shown errors.
for i in "${!PIDS[@]}"; do
    kill -0 "${PIDS[$i]}" 2>/dev/null || die "${NAMES[$i]} died during the benchmark (log in $TMP)"
done

# ---------------------------------------------------------------------------
# 8. Report
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
    if [[ $SKIP_MODSEC == 1 ]]; then
        echo "modsec:   nginx-modsec not measured (SKIP_MODSEC=1)"
    else
        echo "modsec:   $(dpkg-query -W -f '${Package} ${Version}; ' libnginx-mod-http-modsecurity libmodsecurity3 modsecurity-crs 2>/dev/null || true)$MODSEC_RULES rules loaded"
        echo "          SecRuleEngine On, CRS paranoia level 1, anomaly scoring, inbound threshold 5, audit log off (bench/modsec/)"
    fi
    if [[ $SKIP_FULL == 1 ]]; then
        echo "full:     palisade-full not measured (SKIP_FULL=1)"
    else
        echo "full:     palisade-full: bench/palisade-full.toml.in (route \"/\" with RS256 JWT, per-client rate limit, signatures in block mode)"
    fi
    echo "setup:    upstream nginx ($UPSTREAM_WORKERS worker) returns 200 \"ok\"; proxies with $WORKERS workers, keep-alive upstream"
    echo "request:  GET / with Host: $BENCH_HOST and Authorization: Bearer <RS256 JWT, ${#TOKEN} bytes>, to every target"
    echo "pinning:  $PINNING"
    echo "load:     $ROUNDS round(s), rotating order; medians over rounds"
    echo
    echo "Throughput: wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION (latencies in µs; cpu-us/req: CPU time"
    echo "the proxy process itself spent per request, user + system, from /proc; for direct, the upstream's)"
    printf '%-13s %10s %15s %8s %8s %8s %12s %8s\n' target req/s ratio-to-nginx p50 p99 p99.9 cpu-us/req errors
    nginx_rps=$(med tput nginx rps)
    for t in "${TARGETS[@]}"; do
        rps=$(med tput "$t" rps)
        if [[ $t == direct ]]; then
            ratio="-"
        else
            ratio=$(awk -v a="$rps" -v b="$nginx_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
        fi
        errs=$(($(sum tput "$t" errors) + $(sum tput "$t" non2xx)))
        printf '%-13s %10.0f %15s %8.0f %8.0f %8.0f %12.1f %8d\n' "$(label "$t")" "$rps" "$ratio" \
            "$(med tput "$t" p50_us)" "$(med tput "$t" p99_us)" "$(med tput "$t" p999_us)" \
            "$(med tput "$t" cpu_us)" "$errs"
    done
    if [[ -n ${PORT_OF[palisade-full]:-} ]]; then
        echo
        if [[ -n ${PORT_OF[nginx-modsec]:-} ]]; then
            target_line "palisade-full / nginx-modsec" palisade-full nginx-modsec 3
        fi
        target_line "palisade-full / nginx" palisade-full nginx 0.85
    fi
    if [[ -n ${PORT_OF[palisade-fleet]:-} ]]; then
        # Fleet mode should cost the request path next to nothing: no target
        # set by the issue; 0.95 is ours.
        target_line "palisade-fleet / palisade-full" palisade-fleet palisade-full 0.95
    fi
    if [[ $RATE_DURATION != 0 ]]; then
        local d50 d99 added=()
        d50=$(med rate direct p50_us)
        d99=$(med rate direct p99_us)
        echo
        echo "Fixed rate: wrk -t$WRK_THREADS -c$RATE_CONNECTIONS -d$RATE_DURATION, each connection pausing ${RATE_DELAY_MS} ms (±50%) between requests (latencies in µs)"
        printf '%-13s %10s %8s %8s %8s %10s %10s %8s\n' target req/s p50 p99 p99.9 +p50 +p99 errors
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
            printf '%-13s %10.0f %8.0f %8.0f %8.0f %10s %10s %8d\n' "$(label "$t")" "$(med rate "$t" rps)" \
                "$p50" "$p99" "$(med rate "$t" p999_us)" "$a50" "$a99" "$errs"
        done
        local joined
        joined=$(printf '%s, ' "${added[@]}")
        printf 'fixed rate ~%.0f req/s: added p50 over direct: %s\n' "$(med rate direct rps)" "${joined%, }"
    fi
    if [[ -n ${M[pair:nginx:rps]:-} ]]; then
        echo
        echo "Paired: $PAIRS set(s) of ${PAIRED[*]} run back to back (wrk -t$WRK_THREADS -c$CONNECTIONS -d$PAIR_DURATION each,"
        echo "rotating order); each ratio is against the nginx run of the same set, seconds apart"
        # The plain proxy's target (>= 0.9x) is the core issue's; the full policy's, issue 3's.
        [[ -n ${M[pair:palisade:rps]:-} ]] && paired_line palisade 0.9
        [[ -n ${M[pair:palisade-full:rps]:-} ]] && paired_line palisade-full 0.85
    fi
}
label() { if [[ $1 == palisade ]]; then echo "$PALISADE_LABEL"; else echo "$1"; fi; }
# paired_line A GOAL: A's req/s over nginx's in each set of the paired phase:
# the median, the quartiles, the range, and how many sets reach GOAL.
paired_line() {
    awk -v title="$(label "$1") / nginx" -v a="${M[pair:$1:rps]:-}" -v b="${M[pair:nginx:rps]:-}" \
        -v goal="$2" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) r[i] = (y[i] > 0 ? x[i] / y[i] : 0)
        for (i = 2; i <= n; i++) { v = r[i]; for (j = i - 1; j >= 1 && r[j] > v; j--) r[j + 1] = r[j]; r[j + 1] = v }
        med = (n % 2 ? r[(n + 1) / 2] : (r[n / 2] + r[n / 2 + 1]) / 2)
        q1 = r[int((n - 1) * 0.25) + 1]; q3 = r[int((n - 1) * 0.75) + 1]
        for (i = 1; i <= n; i++) if (r[i] >= goal) k++
        printf "%-29s %5.2fx req/s, median of %d sets (target >= %sx: %s)\n", title ":", med, n, goal,
            (med >= goal ? "met" : "NOT met")
        printf "%-29s quartiles %.2f to %.2f, %.2f to %.2f in all; %d of %d sets >= %sx\n", "",
            q1, q3, r[1], r[n], k + 0, n, goal }'
}
# target_line TITLE A B GOAL: A's median throughput over B's against a goal, with
# both CPU costs per request for context (steadier than req/s on a shared machine).
target_line() {
    awk -v title="$1" -v a="$(med tput "$2" rps)" -v b="$(med tput "$3" rps)" \
        -v ca="$(med tput "$2" cpu_us)" -v cb="$(med tput "$3" cpu_us)" -v goal="$4" 'BEGIN {
        r = (b > 0 ? a / b : 0)
        printf "%-29s %5.2fx req/s (target >= %sx: %s); cpu-us/req %.1f vs %.1f\n", title ":", r, goal,
            (r >= goal ? "met" : "NOT met"), ca, cb }'
    # The same ratio round by round (each round runs both targets minutes apart
    # at most): how much of the verdict is the machine's noise.
    local ratios sorted
    ratios=$(awk -v a="${M[tput:$2:rps]:-}" -v b="${M[tput:$3:rps]:-}" 'BEGIN {
        n = split(a, x, " "); split(b, y, " ")
        for (i = 1; i <= n; i++) printf "%.4f ", (y[i] > 0 ? x[i] / y[i] : 0) }')
    # shellcheck disable=SC2086 # word splitting of the value list is the point
    sorted=$(printf '%s\n' $ratios | sort -g)
    # shellcheck disable=SC2086
    printf '%-29s%s (median %.2f, %.2f to %.2f)\n' "  per round:" "$(printf ' %.2f' $ratios)" \
        "$(median $ratios)" "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")"
}

echo
report | tee "$RESULT_FILE"
echo
log "saved to ${RESULT_FILE#"$REPO"/}"
