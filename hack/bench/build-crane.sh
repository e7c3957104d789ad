#!/usr/bin/env bash
# build-crane.sh builds crane (go-containerregistry's CLI) at the version
# edgeimg's go.mod uses, from the Go module proxy, for the pull throughput
# comparison of the airgap benchmarks, and caches it:
#
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/build/crane-<version>-go<goversion>/crane
#
# Prints the binary's path; a second call returns at once.
set -euo pipefail
VERSION=${CRANE_VERSION:-v0.22.1}
export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off
gover=$(go env GOVERSION)
cache=${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}
out=$cache/build/crane-$VERSION-go${gover#go}
if [[ -x $out/crane ]]; then echo "$out/crane"; exit 0; fi
mkdir -p "$cache/build"
exec 9>"$out.lock"
flock 9
if [[ -x $out/crane ]]; then echo "$out/crane"; exit 0; fi
tmp=$(mktemp -d "$cache/build/.tmp-crane-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
GOBIN=$tmp CGO_ENABLED=0 go install -trimpath "github.com/google/go-containerregistry/cmd/crane@$VERSION" >&2
rm -rf "$out"
mkdir -p "$out"
mv "$tmp/crane" "$out/crane"
echo "$out/crane"
