#!/usr/bin/env bash
# Builds bin/etcd and bin/etcdctl from the etcd modules pinned in go.mod, so the
# end-to-end tests run the same etcd version the code is compiled against.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fresh() { [[ -x "$1" && "$1" -nt go.mod ]]; }

if fresh bin/etcd && fresh bin/etcdctl; then
	echo "install-etcd: bin/etcd and bin/etcdctl are up to date ($(bin/etcd --version | head -n1))"
	exit 0
fi

mkdir -p bin
start=$SECONDS
go build -o bin/etcd go.etcd.io/etcd/server/v3
go build -o bin/etcdctl go.etcd.io/etcd/etcdctl/v3
echo "install-etcd: built bin/etcd and bin/etcdctl ($(bin/etcd --version | head -n1)) in $((SECONDS - start))s"
