#!/usr/bin/env bash
# The README's Quick start in one command (make demo): one replica on an
# embedded etcd, a local upstream and a real Envoy, all on loopback, then a
# request through Envoy. It runs until Ctrl-C (or SIGTERM), which stops every
# process it started and removes its files.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

ports=(2379 2380 9400 18000 9901 10000 8081)
for bin in chancery chanceryctl envoy; do
	if [[ ! -x bin/$bin ]]; then
		echo "demo: bin/$bin is missing: run make envoy build, or make demo" >&2
		exit 1
	fi
done
for tool in curl python3; do
	if ! command -v "$tool" >/dev/null; then
		echo "demo: $tool is missing" >&2
		exit 1
	fi
done
for port in "${ports[@]}"; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		echo "demo: something listens on 127.0.0.1:$port (a make run, or another demo?); the demo needs ports ${ports[*]}" >&2
		exit 1
	fi
done

work="$(mktemp -d "${TMPDIR:-/tmp}/chancery-demo.XXXXXX")"
pids=()
cleanup() {
	trap - EXIT INT TERM
	if ((${#pids[@]} > 0)); then
		kill "${pids[@]}" 2>/dev/null || true
		wait "${pids[@]}" 2>/dev/null || true
	fi
	rm -rf "$work"
	echo "demo: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# fail says what did not come up, with the end of its log.
fail() {
	echo "demo: $1; the end of $2:" >&2
	tail -n 20 "$2" >&2 || true
	exit 1
}

bin/chancery serve --data-dir "$work/data" --xds-address 127.0.0.1:18000 --drain-timeout 1s \
	--log-format console >"$work/chancery.log" 2>&1 &
pids+=("$!")
curl -sf --retry 30 --retry-connrefused --retry-delay 1 -o /dev/null 127.0.0.1:9400/readyz ||
	fail "the replica did not become ready" "$work/chancery.log"
echo "demo: replica ready: xDS 127.0.0.1:18000, admin http://127.0.0.1:9400, etcd http://127.0.0.1:2379"

python3 -m http.server 8081 --bind 127.0.0.1 --directory examples >"$work/upstream.log" 2>&1 &
pids+=("$!")
bin/chanceryctl apply -f - <<'EOF' | sed 's/^/demo: /'
kind: Service
name: hello
spec: {protocol: http}
---
kind: Endpoint
name: hello/local
spec: {address: 127.0.0.1, port: 8081}
---
kind: RouteTable
name: hello
spec:
  virtual_hosts:
    - name: hello
      domains: ["*"]
      routes:
        - match: {prefix: /}
          service: hello
---
kind: Listener
name: hello
spec: {address: 127.0.0.1, port: 10000, protocol: http, route_table: hello, groups: [quickstart]}
EOF

bin/chanceryctl bootstrap --node-id demo-1 --group quickstart --xds 127.0.0.1:18000 -o "$work/envoy.yaml"
bin/envoy -c "$work/envoy.yaml" --disable-hot-restart >"$work/envoy.log" 2>&1 &
pids+=("$!")
echo "demo: Envoy demo-1 in group quickstart, admin http://127.0.0.1:9901"
echo "demo: curl -i 127.0.0.1:10000/ (the upstream on 127.0.0.1:8081, through Envoy):"
curl -sSf --retry 30 --retry-connrefused --retry-delay 1 -D - -o /dev/null 127.0.0.1:10000/ ||
	fail "no answer through Envoy" "$work/envoy.log"

cat <<'EOF'
demo: running. Try:
  curl -i 127.0.0.1:10000/
  bin/chanceryctl status
  bin/chanceryctl get all
  curl -s 127.0.0.1:9400/debug/snapshot
demo: Ctrl-C stops it all.
EOF
# Until Ctrl-C, or until one of them exits on its own.
wait -n "${pids[@]}" || true
echo "demo: a process exited on its own; stopping" >&2
exit 1
