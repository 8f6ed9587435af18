#!/usr/bin/env bash
# Builds bin/staticcheck at the version make lint runs, from the Go module
# proxy, unless it is there already.
set -euo pipefail

version=v0.8.2
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [[ -x bin/staticcheck ]] && bin/staticcheck -version 2>/dev/null | grep -qF "(${version#v})"; then
	exit 0
fi
mkdir -p bin
start=$SECONDS
GOBIN="$root/bin" go install "honnef.co/go/tools/cmd/staticcheck@$version"
echo "install-staticcheck: built bin/staticcheck $version in $((SECONDS - start))s"
