# edgeimg — build, test, benchmark.
#
#   make image   build bin/edgeimg and an image from the embedded default spec
#   make test    every unit and integration test (real registry, containerd,
#                kube-apiserver, sshd, mkfs, QEMU), after installing what they need
#   make fuzz    every fuzz target for 2 minutes (make test runs each 20 s)
#   make e2e     the end-to-end run on a real k0s built from source;
#                K0S_LINE=1.36 (with K0S_BIN=<k0s v1.36.3+k0s.2>) runs that line
#   make e2e-vm  the built image booted in QEMU as a device, checked over SSH
#   make bench   benchmarks, printing figures
#   make check-deps  install-deps.sh proven on a fresh Debian root
#   make vuln    govulncheck against an offline vulndb; fails on fixable findings
#   make lint    gofmt, go vet, shellcheck

SHELL := /bin/bash
GO ?= go
export GOFLAGS ?= -mod=mod
# go.sum is checked against the Go checksum database (reachable from the
# build machine and CI; GOSUMDB=off GONOSUMDB='*' in the environment turn it
# off where it is not).
export GONOSUMDB ?=
export GOSUMDB ?= sum.golang.org
# RELEASE_GO is the Go that builds edgeimg's binary (make build) and that
# make vuln checks the standard library of: newer than the machine's Go
# (1.26.8, whose standard library has reachable fixed vulnerabilities). The go
# command fetches it from the module proxy once (~76 MB, verified against the
# checksum database). Tests keep the machine's Go (GOTOOLCHAIN=local): their
# cached binaries (make testbins) are keyed by its version.
RELEASE_GO ?= go1.27.3
WITH_RELEASE_GO := GOTOOLCHAIN=$(RELEASE_GO) GONOSUMDB= GOSUMDB=sum.golang.org
export GOTOOLCHAIN ?= local
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
BIN := bin/edgeimg
OUT ?= out
TEST_TIMEOUT ?= 80m
# K0S_LINE picks the k0s line whose components hack/build-bins.sh and
# hack/build-containerd.sh build and the end-to-end harness runs
# (hack/lib/lines.sh): 1.33 (the default, built from the module proxy
# alone: what CI runs) or 1.36 (k0s v1.36.3+k0s.2, whose binary the proxy
# does not serve: K0S_BIN names it once, it is cached then).
export K0S_LINE ?= 1.33
export K0S_BIN ?=

.PHONY: all build image deps check-deps vuln testbins test e2e e2e-vm e2ebins levers bench lint clean

all: build

build:
	$(WITH_RELEASE_GO) $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/edgeimg

# deps installs the Debian packages the build and the tests use (once; as
# root or through sudo).
deps:
	bash hack/install-deps.sh

# check-deps proves install-deps.sh on a fresh Debian bookworm root (only Go
# copied in; as root): every tool in its map resolves there, and every command
# the Go code runs by name is in the map.
check-deps:
	bash hack/check-deps.sh

# vuln runs govulncheck (non-test code, symbol level) against a database
# built offline from golang.org/x/vulndb on the module proxy, at RELEASE_GO;
# fails on a reachable vulnerability that has a fix (README: "CI,
# dependencies, known vulnerabilities").
vuln:
	$(WITH_RELEASE_GO) bash hack/vuln.sh

image: deps build
	$(BIN) build -o $(OUT)

# testbins builds, once and cached, the binaries the integration tests run:
# kube-apiserver + kine (server-side dry-runs), containerd (airgap): the
# line's and both lines' containerd releases, since one preloaded store
# serves both (1.7 and 2.x).
testbins:
	bash hack/build-bins.sh kube-apiserver kine
	CONTAINERD_VERSION=1.7.30 bash hack/build-containerd.sh
	CONTAINERD_VERSION=2.3.3 bash hack/build-containerd.sh

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
# images built from Go source (hack/e2e-images.sh); as root. K0S_LINE picks
# the line (README: "make e2e: the k0s lines").
e2e: e2ebins
	EDGEIMG_CI=1 $(GO) test -tags e2e -count=1 -v -skip '^TestAutoscale$$' -timeout 40m ./test/e2e

# e2e-load runs Knative's autoscale scenario on the plan's 1 CPU / 1536Mi
# node (TestAutoscale: 3x the target for 60 s); not in make e2e while the
# fitted node can reach its eviction threshold at max scale (README).
.PHONY: e2e-load
e2e-load: e2ebins
	EDGEIMG_CI=1 $(GO) test -tags e2e -count=1 -v -run '^TestAutoscale$$' -timeout 40m ./test/e2e

# e2e-vm builds the end-to-end spec's image (x86_64-efi, raw and qcow2)
# with the source-built k0s and images, writes a device file with edgeimg
# device-config, boots it in QEMU (TCG here, KVM where it works; 1 vCPU,
# 1536 MiB, no route out) and checks it over SSH and the forwarded API
# port across a first boot, a clean reboot and a power cut, then e2fsck;
# EDGEIMG_E2EVM_WORKLOADS=1 adds the stacks and hello under TCG; as root.
e2e-vm: e2ebins
	EDGEIMG_CI=1 $(GO) test -tags e2evm -count=1 -v -run TestDevice -timeout 170m ./test/e2evm

# bench-vm boots the end-to-end image with its images preloaded and with
# them as k0s's import bundle, one after the other, and prints power-on to
# k0s started, API ready, node Ready, images usable (and hello Ready with
# the workloads) side by side; as root. EDGEIMG_BENCH_ORDER=bundle-first
# swaps the order.
.PHONY: bench-vm
bench-vm: e2ebins
	EDGEIMG_CI=1 $(GO) test -tags e2evm -run '^$$' -bench BenchmarkDeviceStart -benchtime 1x -timeout 170m ./test/e2evm

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
	$(GO) vet -tags e2evm ./test/e2evm
	bash hack/check-layout.sh
	shellcheck -x hack/*.sh hack/lib/*.sh hack/bench/*.sh pkg/bundle/*.sh overlays/base/usr/lib/edgeimg/device-config overlays/base/usr/lib/edgeimg/growroot

clean:
	rm -rf bin $(OUT)
