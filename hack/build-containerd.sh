#!/usr/bin/env bash
# build-containerd.sh builds containerd, containerd-shim-runc-v2 and ctr at
# the version the k0s line embeds (K0S_LINE, hack/lib/lines.sh: 1.7.30 for
# 1.33, 2.3.3 for 1.36; CONTAINERD_VERSION overrides it), from the Go module
# proxy only, for the tests and benchmarks that run a real containerd daemon
# (pkg/airgap) and the end-to-end harness, and caches them:
#
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/build/containerd-<version>-go<goversion>/
#
# `go install github.com/containerd/containerd/cmd/...@v1.7.30` is refused
# (its go.mod has exclude directives), so the module (1.x:
# github.com/containerd/containerd, 2.x: .../containerd/v2) is fetched with
# `go mod download` and built in a writable copy, with the build tags of
# upstream's release (1.7: apparmor, selinux, no_btrfs; 2.x: apparmor,
# selinux, as k0s's embedded-bins/Makefile.variables has them) and the
# version stamped.
# A second call returns at once; a build goes to a temporary directory that
# is renamed into place when complete, under a lock, so concurrent callers
# (parallel `go test` packages) build it once.
#
# Usage: [K0S_LINE=1.33|1.36] [CONTAINERD_VERSION=x.y.z] hack/build-containerd.sh [-q]
# Prints the directory holding the three binaries. runc is not built: the
# tests use Debian's runc package.
set -euo pipefail

quiet=false
[[ ${1:-} == -q ]] && quiet=true
log() { $quiet || echo "build-containerd: $*" >&2; }
die() { echo "build-containerd: $*" >&2; exit 1; }
# shellcheck source=hack/lib/lines.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/lines.sh"

VERSION=${CONTAINERD_VERSION:-$LINE_CONTAINERD_VERSION}
[[ $VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "containerd version \"$VERSION\": want x.y.z"
MODULE=$(containerd_module "$VERSION")
case $VERSION in
1.*) TAGS=apparmor,selinux,no_btrfs ;;
*) TAGS=apparmor,selinux ;;
esac

command -v go >/dev/null || die "go not found"
command -v flock >/dev/null || die "flock not found (Debian package util-linux)"
export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off

gover=$(go env GOVERSION)
gover=${gover#go}
cache=${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}
out=$cache/build/containerd-$VERSION-go$gover
bins=(containerd containerd-shim-runc-v2 ctr)

complete() {
	local b
	for b in "${bins[@]}"; do [[ -x $out/$b ]] || return 1; done
	"$out/containerd" --version 2>/dev/null | grep -q "v$VERSION"
}

if complete; then echo "$out"; exit 0; fi

mkdir -p "$cache/build"
exec 9>"$out.lock"
flock 9
if complete; then echo "$out"; exit 0; fi

work=$(mktemp -d "$cache/build/.tmp-containerd-XXXXXX")
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

log "go mod download $MODULE@v$VERSION"
dir=$(cd "$work" && go mod download -json "$MODULE@v$VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
[[ -n $dir && -d $dir ]] || die "go mod download $MODULE@v$VERSION gave no module directory"

cp -r "$dir" "$work/src"
chmod -R u+w "$work/src"
mkdir -p "$work/out"
ld="-s -w -X $MODULE/version.Version=v$VERSION -X $MODULE/version.Revision=v$VERSION-module -X $MODULE/version.Package=$MODULE"
log "go build ${bins[*]} (tags $TAGS, go $gover): a few minutes cold"
start=$SECONDS
(cd "$work/src" && go build -trimpath -tags "$TAGS" -ldflags "$ld" -o "$work/out/" ./cmd/containerd ./cmd/ctr) \
	|| die "go build containerd, ctr failed"
# The shim is static like upstream's release, so it runs in any mount namespace.
(cd "$work/src" && CGO_ENABLED=0 go build -trimpath -tags "$TAGS" -ldflags "$ld" -o "$work/out/" ./cmd/containerd-shim-runc-v2) \
	|| die "go build containerd-shim-runc-v2 failed"
log "built in $((SECONDS - start)) s"

rm -rf "$out"
mv "$work/out" "$out"
complete || die "$out: built binaries do not report v$VERSION"
echo "$out"
