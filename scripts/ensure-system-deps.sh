#!/usr/bin/env bash
# Installs the real components the agent and its tests use when they are missing.
# Only apt is supported; other systems get a clear message naming what to install.
set -euo pipefail
need=()
command -v haproxy >/dev/null 2>&1 || need+=(haproxy)
if [ "${WEIR_NEED_NATS:-1}" = 1 ]; then command -v nats-server >/dev/null 2>&1 || need+=(nats-server); fi
if [ "${WEIR_NEED_WRK:-0}" = 1 ]; then command -v wrk >/dev/null 2>&1 || need+=(wrk); fi
# [edge] DNS discovery tests run a real dnsmasq (the binary only: dnsmasq-base starts no service);
# TLS tests and drills generate certificates with openssl.
if [ "${WEIR_NEED_EDGE_TOOLS:-1}" = 1 ]; then
  { command -v dnsmasq >/dev/null 2>&1 || [ -x /usr/sbin/dnsmasq ]; } || need+=(dnsmasq-base)
  command -v openssl >/dev/null 2>&1 || need+=(openssl)
fi
# Telemetry tests need a real rsyslogd, and promtool (below).
if [ "${WEIR_NEED_TELEMETRY_TOOLS:-1}" = 1 ]; then
  { command -v rsyslogd >/dev/null 2>&1 || [ -x /usr/sbin/rsyslogd ]; } || need+=(rsyslog)
fi
# Browser tests of the console drive Debian's Chromium (playwright-core, no browser download).
if [ "${WEIR_NEED_BROWSER:-1}" = 1 ]; then [ -x /usr/bin/chromium ] || need+=(chromium); fi
if [ ${#need[@]} -eq 0 ]; then need_apt=0; else need_apt=1; fi
if [ "$need_apt" = 1 ] && ! command -v apt-get >/dev/null 2>&1; then
  echo "weir: missing ${need[*]} and this system has no apt-get; install them with your package manager (HAProxy 2.6+, nats-server 2.9+, Chromium for the console's browser tests)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo
  elif [ "$need_apt" = 1 ]; then echo "weir: need root or sudo to apt-get install ${need[*]}" >&2; exit 1; fi
fi
if [ "$need_apt" = 1 ]; then
  echo "weir: installing ${need[*]} with apt-get"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# promtool only: Debian ships it inside the prometheus package, whose install would also start a
# Prometheus server; unpack the package into .cache/ instead (tests look there first).
if [ "${WEIR_NEED_TELEMETRY_TOOLS:-1}" = 1 ] && ! command -v promtool >/dev/null 2>&1 && [ ! -x .cache/prometheus/usr/bin/promtool ]; then
  echo "weir: unpacking promtool from Debian's prometheus package into .cache/prometheus"
  mkdir -p .cache/prometheus
  ( cd .cache/prometheus && { apt-get download prometheus >/dev/null 2>&1 || { $SUDO apt-get update -qq && apt-get download prometheus >/dev/null; }; } && dpkg-deb -x prometheus_*.deb . && rm -f prometheus_*.deb )
fi
