#!/usr/bin/env bash
# Installs HAProxy from the Debian package for the fault tests (test/fault),
# which run it as a child process in front of three replicas. Nothing is
# done when haproxy is already on the PATH; the system service the package
# sets up is not used by the tests.
set -euo pipefail

if command -v haproxy >/dev/null 2>&1; then
	echo "install-haproxy: $(haproxy -v 2>/dev/null | head -n1), nothing to do"
	exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
	echo "install-haproxy: haproxy is missing and there is no apt-get: install HAProxy 2.x by hand" >&2
	exit 1
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then
	sudo="sudo"
fi
start=$SECONDS
# While installing, a policy-rc.d that answers 101 ("action forbidden")
# keeps the package from starting the system service: the tests run their
# own HAProxy on loopback ports. One the machine already has is left alone.
policy=/usr/sbin/policy-rc.d
if [[ ! -e $policy ]]; then
	trap '$sudo rm -f "$policy"' EXIT
	printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
	$sudo chmod +x "$policy"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends haproxy >/dev/null
echo "install-haproxy: installed $(haproxy -v 2>/dev/null | head -n1) in $((SECONDS - start))s"
