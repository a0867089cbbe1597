#!/usr/bin/env bash
# Instructions per proxied request, counted by callgrind: a repeatable figure for
# comparing two builds of the request path (unlike req/s on a shared machine).
#
# Usage: bench/instructions.sh [palisade-binary]
#        FULL=1 bench/instructions.sh [palisade-binary]   # the full policy
# Needs valgrind, nginx, wrk and openssl (installed with apt-get when missing).
# Starts an nginx upstream that answers "ok", Palisade with one worker under
# callgrind, warms up, then counts instructions over a 5 s wrk run with 4
# connections. FULL=1 runs bench/palisade-full.toml.in (route, RS256 JWT,
# rate limit, signatures in block mode), as proxy.sh's palisade-full target, with
# every request carrying a token signed by a fresh key.
# CG_OUT=dir keeps callgrind's files there, for callgrind_annotate.
# Counts user-space instructions of every thread (workers and analytics), not
# the kernel's; under valgrind, aws-lc uses its AVX SHA-256, not the SHA
# extensions most CPUs have, so the JWT cache's digest counts more than it costs.
set -euo pipefail
export LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}/release/palisade}
need=()
for c in valgrind nginx wrk curl python3 openssl; do command -v "$c" >/dev/null || need+=("$c"); done
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[[ -x $BIN ]] || (cd "$REPO" && cargo build --release -p palisade --bin palisade)
TMP=$(mktemp -d)
[[ -n ${KEEP_TMP:-} ]] && echo "scratch: $TMP" >&2
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; [[ -n ${KEEP_TMP:-} ]] || rm -rf "$TMP"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
UP=$(port)
PX=$(port)
start_upstream "$TMP/up" "$UP"
HDRS=()
if [[ ${FULL:-0} == 1 ]]; then
    b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$TMP/key.pem" 2>/dev/null
    openssl pkey -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" 2>/dev/null
    signed="$(printf '%s' '{"alg":"RS256","typ":"JWT"}' | b64url).$(printf '{"sub":"bench-user","scope":"bench","exp":%d}' $(($(date +%s) + 86400)) | b64url)"
    HDRS=(-H "Host: bench.palisade.test" -H "Authorization: Bearer $signed.$(printf '%s' "$signed" | openssl dgst -sha256 -sign "$TMP/key.pem" -binary | b64url)")
    sed -e "s|@LISTEN@|127.0.0.1:$PX|g" -e "s|@WORKERS@|1|g" -e "s|@UPSTREAM@|http://127.0.0.1:$UP|g" \
        -e "s|@PUBKEY@|$TMP/pub.pem|g" -e "s|@STORE@|$TMP/store/palisade.redb|g" \
        "$REPO/bench/palisade-full.toml.in" >"$TMP/p.toml"
else
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
fi
# --trace-children: Palisade re-executes itself once (same pid) to size polars' pool.
valgrind --tool=callgrind --trace-children=yes --callgrind-out-file="$TMP/cg.out" "$BIN" run --config "$TMP/p.toml" >"$TMP/vg.log" 2>&1 &
PIDS+=($!)
# Under valgrind, start-up (compiling the rules, opening the store) takes a while.
wait_answers "http://127.0.0.1:$PX/" 900 0.2 "$TMP/vg.log" \
    "Palisade did not answer 200 within 180 s under valgrind" "${HDRS[@]}"
wrk -t1 -c4 -d2s "${HDRS[@]}" "http://127.0.0.1:$PX/" >/dev/null
callgrind_control -z "${PIDS[1]}" >/dev/null 2>&1
n=$(wrk -t1 -c4 -d5s "${HDRS[@]}" "http://127.0.0.1:$PX/" | awk '/requests in/ {print $1}')
callgrind_control -d "${PIDS[1]}" >/dev/null 2>&1
sleep 1
total=$(cat "$TMP"/cg.out.* | awk '/^summary:/ {s += $2} END {print s}')
echo "$n requests, $((total / n)) instructions per request ($BIN)"
if [[ -n ${CG_OUT:-} ]]; then mkdir -p "$CG_OUT" && cp "$TMP"/cg.out.* "$CG_OUT"/; fi
