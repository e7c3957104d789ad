# edgeimg — build, test, benchmark.
#
#   make image   build bin/edgeimg and an image from the embedded default spec
#   make test    every unit and integration test (real registry, containerd,
#                kube-apiserver, sshd, mkfs, QEMU), after installing what they need
#   make fuzz    every fuzz target for 2 minutes (make test runs each 20 s)
#   make e2e     the end-to-end run on a real k0s built from source
#   make bench   benchmarks, printing figures
#   make check-deps  install-deps.sh proven on a fresh Debian root
#   make lint    gofmt, go vet, shellcheck

SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -mod=mod
export GONOSUMDB ?= *
export GOSUMDB ?= off
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN := bin/edgeimg
OUT ?= out
TEST_TIMEOUT ?= 80m

.PHONY: all build image deps check-deps vuln testbins test e2e e2ebins levers bench lint clean

all: build

build:
	$(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/edgeimg

# deps installs the Debian packages the build and the tests use (once; as
# root or through sudo).
deps:
	bash hack/install-deps.sh

# check-deps proves install-deps.sh on a fresh Debian bookworm root (only Go
# copied in; as root): every tool in its map resolves there, and every command
# the Go code runs by name is in the map.
check-deps:
	bash hack/check-deps.sh

image: deps build
	$(BIN) build -o $(OUT)

# testbins builds, once and cached, the binaries the integration tests run:
# kube-apiserver + kine (server-side dry-runs), containerd (airgap).
testbins:
	bash hack/build-bins.sh kube-apiserver kine
	bash hack/build-containerd.sh

test: deps testbins
	EDGEIMG_CI=1 $(GO) test -timeout $(TEST_TIMEOUT) ./...
	FUZZTIME=20s bash hack/fuzz.sh

# fuzz runs every fuzz target longer than make test does (2 min each);
# FUZZ='Decode|Set' picks some, FUZZTIME=10m runs each longer.
.PHONY: fuzz
FUZZ ?= .
FUZZTIME ?= 2m
fuzz:
	FUZZ='$(FUZZ)' FUZZTIME='$(FUZZTIME)' bash hack/fuzz.sh

# e2e runs the stack on a real k0s single node built from source, with
# images built from Go source (hack/e2e-images.sh); as root.
e2e: e2ebins
	EDGEIMG_CI=1 $(GO) test -tags e2e -count=1 -v -timeout 40m ./test/e2e

e2ebins: deps
	bash hack/build-bins.sh -q all >/dev/null
	bash hack/build-containerd.sh -q >/dev/null
	bash hack/e2e-images.sh -q all >/dev/null

# levers measures the idle node's memory with each k0s memory lever alone
# and combined (README: "How close to 1 GiB"), ~2 min per lever;
# LEVERS='gogc25|combined' picks some, EDGEIMG_LEVER_MEMORY=900Mi adds a
# hard memory limit on the whole cluster.
LEVERS ?= .*
levers: e2ebins
	EDGEIMG_CI=1 $(GO) test -tags e2e -run '^$$' -bench 'BenchmarkLevers/($(LEVERS))$$' -benchtime 1x -timeout 90m ./test/e2e

bench: deps testbins
	$(GO) test -run '^$$' -bench . -benchtime 1x ./...
	for s in hack/bench/*.sh; do bash "$$s" || exit 1; done

lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)"
	$(GO) vet ./...
	$(GO) vet -tags e2e ./test/e2e
	bash hack/check-layout.sh
	shellcheck -x hack/*.sh hack/lib/*.sh hack/bench/*.sh pkg/bundle/*.sh overlays/base/usr/lib/edgeimg/device-config overlays/base/usr/lib/edgeimg/growroot

clean:
	rm -rf bin $(OUT)
