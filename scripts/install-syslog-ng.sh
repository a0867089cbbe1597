#!/usr/bin/env bash
# syslog-ng for the SIEM end-to-end tests, beside rsyslog. Debian's syslog-ng-core
# conflicts with rsyslog (both provide system-log-daemon), so it is not installed:
# its package is unpacked into $PALISADE_SYSLOG_NG_ROOT (default
# $HOME/.cache/palisade-tools/syslog-ng), where tests/src/syslog.rs runs it from,
# and only its runtime libraries are installed with apt.
#
#   scripts/install-syslog-ng.sh                   installs what is missing
#   scripts/install-syslog-ng.sh --missing-deps    prints the missing apt packages
#                                                  (for .ci/run's one apt-get install)
set -euo pipefail

dest="${PALISADE_SYSLOG_NG_ROOT:-$HOME/.cache/palisade-tools/syslog-ng}"
# syslog-ng-core's Depends, less what every Debian has (libc6, libsystemd0, lsb-base).
deps=(libcap2 libglib2.0-0 libivykis0 libjson-c5 libnet1 libpcre3 libssl3 libwrap0)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

missing=()
for p in "${deps[@]}"; do installed "$p" || missing+=("$p"); done

if [ "${1:-}" = "--missing-deps" ]; then
  [ ${#missing[@]} -eq 0 ] || printf '%s\n' "${missing[@]}"
  exit 0
fi

sudo_=""
[ "$(id -u)" -eq 0 ] || sudo_="sudo"
updated=""
if [ ${#missing[@]} -gt 0 ]; then
  $sudo_ apt-get update
  updated=1
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y --no-install-recommends "${missing[@]}"
fi

works() {
  LD_LIBRARY_PATH="$dest/usr/lib/syslog-ng" "$dest/usr/sbin/syslog-ng" --version >/dev/null 2>&1
}
if [ -x "$dest/usr/sbin/syslog-ng" ] && works; then
  exit 0
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# apt downloads as its own unprivileged user when run as root: let it write here.
chmod 777 "$tmp"
if ! (cd "$tmp" && apt-get download syslog-ng-core); then
  # The package lists may be missing or stale: refresh them once and retry.
  [ -n "$updated" ] && exit 1
  $sudo_ apt-get update
  (cd "$tmp" && apt-get download syslog-ng-core)
fi
rm -rf "$dest.new"
mkdir -p "$dest.new"
dpkg -x "$tmp"/syslog-ng-core_*.deb "$dest.new"
rm -rf "$dest"
mv "$dest.new" "$dest"
works || { echo "syslog-ng unpacked into $dest does not run" >&2; exit 1; }
echo "syslog-ng unpacked into $dest: $(LD_LIBRARY_PATH="$dest/usr/lib/syslog-ng" "$dest/usr/sbin/syslog-ng" --version | head -1)"
