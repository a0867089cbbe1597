#!/usr/bin/env bash
# What an idle Palisade costs: CPU and wakeups (voluntary context switches) per
# second of each of its threads, after a short burst of traffic has given
# analytics something to hold. A sidecar sits idle beside a quiet service most of
# the time, on every host of a fleet: this should be close to nothing.
#
# Usage: bench/idle.sh [palisade-binary]      IDLE_SECONDS=60 bench/idle.sh
# Needs nginx, wrk, curl and python3 (installed with apt-get when missing).
# Starts an nginx upstream and Palisade (2 workers, the defaults otherwise: the
# batch jobs and the event window on), sends 3 s of wrk at 4 connections, waits
# 2 s, then reads /proc/PID/task/*/{stat,status} IDLE_SECONDS apart.
set -euo pipefail
export LC_ALL=C
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${1:-${CARGO_TARGET_DIR:-$HOME/.cache/palisade-target}/release/palisade}
IDLE_SECONDS=${IDLE_SECONDS:-20}
need=()
for c in nginx wrk curl python3; do command -v "$c" >/dev/null || need+=("$c"); done
if ((${#need[@]})); then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
[[ -x $BIN ]] || (cd "$REPO" && cargo build --release -p palisade --bin palisade)
TMP=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$TMP"; }
trap cleanup EXIT
# shellcheck source=bench/lib.sh
. "$REPO/bench/lib.sh"
UP=$(port)
PX=$(port)
start_upstream "$TMP/up" "$UP"
cat >"$TMP/p.toml" <<CONF
[proxy]
workers = 2
listen = ["127.0.0.1:$PX"]
[upstream]
url = "http://127.0.0.1:$UP"
[routes]
unknown = "allow"
[store]
path = "$TMP/store/palisade.redb"
[admin]
listen = "127.0.0.1:0"
[decisions]
allow_cidrs = ["127.0.0.0/8"]
[log]
level = "warn"
CONF
"$BIN" run --config "$TMP/p.toml" >"$TMP/palisade.log" 2>&1 &
PAL=$!
PIDS+=("$PAL")
wait_answers "http://127.0.0.1:$PX/" 100 0.1 "$TMP/palisade.log" "Palisade did not answer within 10 s"
wrk -t1 -c4 -d3s "http://127.0.0.1:$PX/" >/dev/null
sleep 2
# One line per thread: thread id, name (spaces removed), CPU ticks (user +
# system), wakeups.
snap() {
    local t
    for t in /proc/"$PAL"/task/*; do
        printf '%s %s %s %s\n' "${t##*/}" "$(tr -d ' ' <"$t/comm")" "$(awk '{ print $14 + $15 }' "$t/stat")" \
            "$(awk '/^voluntary_ctxt_switches/ { print $2 }' "$t/status")"
    done | sort
}
snap >"$TMP/before"
sleep "$IDLE_SECONDS"
snap >"$TMP/after"
echo "idle Palisade ($BIN), over ${IDLE_SECONDS} s:"
# Threads in both snapshots (joined on the thread id).
join "$TMP/before" "$TMP/after" | awk -v s="$IDLE_SECONDS" -v hz="$(getconf CLK_TCK)" '
    { cpu = ($6 - $3) * 1000 / hz / s; wakes = ($7 - $4) / s; tc += cpu; tw += wakes
      printf "  %-18s %7.2f ms CPU/s %8.1f wakeups/s\n", $2, cpu, wakes }
    END { printf "  %-18s %7.2f ms CPU/s %8.1f wakeups/s\n", "all threads", tc, tw }'
