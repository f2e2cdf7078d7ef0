#!/usr/bin/env bash
# Installs the real components the agent and its tests use when they are missing.
# Only apt is supported; other systems get a clear message naming what to install.
set -euo pipefail
need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ "${WEIR_NEED_NATS:-1}" = 1 ]; then command -v nats-server >/dev/null 2>&1 || need+=(nats-server); fi
if [ "${WEIR_NEED_WRK:-0}" = 1 ]; then command -v wrk >/dev/null 2>&1 || need+=(wrk); fi
# Telemetry tests: `promtool check metrics` (Debian ships promtool in the prometheus package) and a real rsyslogd.
if [ "${WEIR_NEED_TELEMETRY_TOOLS:-1}" = 1 ]; then
  command -v promtool >/dev/null 2>&1 || need+=(prometheus)
  { command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; } || need+=(rsyslog)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "weir: missing ${need[*]} and this system has no apt-get; install them with your package manager (HAProxy 2.6+, nats-server 2.9+)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "weir: need root or sudo to apt-get install ${need[*]}" >&2; exit 1; }
  SUDO=sudo
fi
echo "weir: installing ${need[*]} with apt-get"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
