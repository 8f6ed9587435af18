#!/usr/bin/env bash
# Installs what make bench needs beyond make tools: matplotlib in the
# project venv (.venv, created by install-envoy.sh) for the report's plots.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ ! -x .venv/bin/python ]]; then
	python3 -m venv .venv
fi
if .venv/bin/python -c 'import matplotlib' 2>/dev/null; then
	echo "install-bench-deps: matplotlib is installed"
	exit 0
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "matplotlib>=3.8,<4"
echo "install-bench-deps: installed matplotlib $(.venv/bin/python -c 'import matplotlib; print(matplotlib.__version__)')"
