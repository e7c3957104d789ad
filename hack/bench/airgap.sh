#!/usr/bin/env bash
# airgap.sh runs the airgap benchmarks (pkg/airgap/bench_test.go) with
# their prerequisites: containerd 1.7.30 (hack/build-containerd.sh), crane
# (hack/bench/build-crane.sh) and runc (Debian package). Figures go to
# stdout, one benchmark per line, as `go test -bench` prints them.
#
# Env: EDGEIMG_BENCH_SCALE (default 1: a ~130 MiB linux/amd64 stack,
# ~530 MiB over four platforms), BENCHTIME (default 3x).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off
hack/build-containerd.sh -q >/dev/null
EDGEIMG_CRANE=$(hack/bench/build-crane.sh)
export EDGEIMG_CRANE
command -v runc >/dev/null || { echo "airgap.sh: runc not found (apt-get install runc)" >&2; exit 1; }
go test -run '^$' -bench . -benchtime "${BENCHTIME:-3x}" -timeout 60m ./pkg/airgap
