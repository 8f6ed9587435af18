#!/usr/bin/env bash
# Installs Chromium from the Debian package for the fleet page's browser test
# (test/e2e/ui_test.go), which runs it headless to load /ui and read the DOM
# after the page's scripts ran. Nothing is done when chromium is already on
# the PATH.
set -euo pipefail

if command -v chromium >/dev/null 2>&1; then
	echo "install-chromium: $(chromium --version 2>/dev/null | head -n1), nothing to do"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-chromium: chromium is missing and there is no apt-get: install Chromium by hand" >&2
	exit 1
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	sudo="sudo"
fi
start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# fonts-dejavu-core: a font the page's text renders with in screenshots.
$sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "install-chromium: installed $(chromium --version 2>/dev/null | head -n1) in $((SECONDS - start))s"
