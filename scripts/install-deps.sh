#!/bin/sh
# Install the Debian 12 packages that deploywatch needs to build, test and benchmark.
# Idempotent: it asks apt only for what is missing, so a second run does nothing.
# Run as root (or through sudo). Usage: scripts/install-deps.sh [build|test|bench]
#   build  compiler, CMake and the libraries the agent links (jansson) or compiles against
#          (libcurl's headers, GnuTLS flavour like the server's TLS: judge --prometheus talks to a
#          Prometheus server's API and loads libcurl with dlopen only then)
#   test   build + cmocka, Prometheus (promtool, integration scrape), node_exporter, curl, and
#          libcurl3-gnutls, the library fleet mode dlopens (named: nothing links it any more)
#   bench  test + wrk, bc, mtail (the log tailer bench compares with it), victoria-metrics (the
#          query benchmark's fastest anchor)
set -eu

level=${1:-test}

build_pkgs="build-essential cmake pkg-config libinotifytools0-dev liblmdb-dev libmicrohttpd-dev
libpcre2-dev zlib1g-dev libyaml-dev libcrypt-dev libgnutls28-dev libcurl4-gnutls-dev
libjansson-dev"
test_pkgs="libcmocka-dev prometheus prometheus-node-exporter curl python3 lmdb-utils libcurl3-gnutls"
bench_pkgs="wrk bc mtail victoria-metrics"

case "$level" in
build) want="$build_pkgs" ;;
test) want="$build_pkgs $test_pkgs" ;;
bench) want="$build_pkgs $test_pkgs $bench_pkgs" ;;
*) echo "usage: $0 [build|test|bench]" >&2; exit 64 ;;
esac

missing=""
for p in $want; do
    # dpkg-query prints "install ok installed" only for a fully installed package.
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$status" = "install ok installed" ] || missing="$missing $p"
done

if [ -z "$missing" ]; then
    echo "install-deps: all $level packages present"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-deps: need root to install:$missing" >&2; exit 77; }
    sudo="sudo"
fi

echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# The prometheus and node-exporter packages try to start their services on install; deploywatch's
# tests start their own instances on loopback ports, so a refusal to start here is harmless.
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing
