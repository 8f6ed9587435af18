#!/usr/bin/env bash
# Installs every external binary the end-to-end and fault tests run: etcd,
# etcdctl, Envoy, headless Chromium and HAProxy (Debian packages, with apt-get).
set -euo pipefail

dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
"$dir/install-etcd.sh"
"$dir/install-envoy.sh"
"$dir/install-chromium.sh" # headless browser for the fleet page test (test/e2e/ui_test.go)
"$dir/install-haproxy.sh"
