#!/usr/bin/env bash
# e2e-images.sh builds, from the Go module proxy only, the programs the
# end-to-end test (test/e2e) packs into container images, and caches them:
#
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/build/e2e-<component>-<version>-go<goversion>/<binary>
#
# Usage: hack/e2e-images.sh [-q] <component>...
#        hack/e2e-images.sh all
#
# Components and what they build (static, CGO off, -trimpath, in a writable
# copy of the upstream module so its own go.mod decides every dependency):
#   knative-serving  activator autoscaler controller webhook queue
#                    (knative.dev/serving $KNATIVE_VERSION: v0.51.0, Knative
#                    1.21's module version, is listed by the proxy but its
#                    knative.dev/pkg pseudo-version is not served, so this is
#                    the newest commit that builds, between 1.20 and 1.21;
#                    knative.dev/caching, which the controller imports, is not
#                    served at all, so the controller is built against
#                    hack/e2e-images/knative-caching, a minimal stand-in
#                    written for edgeimg with the same API: see its README)
#   metallb          controller speaker (go.universe.tf/metallb $METALLB_VERSION;
#                    the manifests are v0.15.3, which the proxy does not serve)
#   coredns          coredns (github.com/coredns/coredns $COREDNS_VERSION, the
#                    version k0s 1.33 runs)
#   metrics-server   metrics-server (sigs.k8s.io/metrics-server
#                    $METRICS_SERVER_VERSION; k0s 1.33 runs v0.7.2)
#
# It prints one absolute directory per component, in the order asked. A
# component already built with the same recipe is not rebuilt (a warm call
# needs neither go nor the network); a build goes to a temporary directory
# renamed into place when complete, under a lock shared with
# hack/build-bins.sh, so concurrent callers build each thing once and the
# heavy builds never run side by side. Progress goes to stderr; -q silences it.
set -euo pipefail
shopt -s inherit_errexit

KNATIVE_VERSION=v0.47.1-0.20251204213410-5fbd94e8a6d7
METALLB_VERSION=v0.15.2
COREDNS_VERSION=v1.12.4
METRICS_SERVER_VERSION=v0.8.0

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHING_STANDIN=$here/e2e-images/knative-caching

export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off GOTOOLCHAIN=local

quiet=0
if [[ ${1:-} == -q ]]; then
	quiet=1
	shift
fi
prog=e2e-images
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

all=(knative-serving metallb coredns metrics-server)
usage() {
	printf 'usage: %s [-q] <component>...   (or: all)\ncomponents: %s\n' "$0" "${all[*]}" >&2
	exit 2
}

(($#)) || usage
command -v flock >/dev/null || die "flock not found (Debian package util-linux)"

cache=${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}
root=$cache/build
mkdir -p "$root"

components=()
for c in "$@"; do
	case $c in
	all) components+=("${all[@]}") ;;
	knative-serving | metallb | coredns | metrics-server) components+=("$c") ;;
	*) die "unknown component \"$c\" (want one of: ${all[*]})" ;;
	esac
done

module_of() {
	case $1 in
	knative-serving) echo knative.dev/serving ;;
	metallb) echo go.universe.tf/metallb ;;
	coredns) echo github.com/coredns/coredns ;;
	metrics-server) echo sigs.k8s.io/metrics-server ;;
	esac
}

version_of() {
	case $1 in
	knative-serving) echo "$KNATIVE_VERSION" ;;
	metallb) echo "$METALLB_VERSION" ;;
	coredns) echo "$COREDNS_VERSION" ;;
	metrics-server) echo "$METRICS_SERVER_VERSION" ;;
	esac
}

# binaries_of lists "name package" pairs, the package relative to the module.
binaries_of() {
	case $1 in
	knative-serving) printf '%s ./cmd/%s\n' activator activator autoscaler autoscaler controller controller webhook webhook queue queue ;;
	metallb) printf '%s\n' "controller ./controller" "speaker ./speaker" ;;
	coredns) echo "coredns ." ;;
	metrics-server) echo "metrics-server ./cmd/metrics-server" ;;
	esac
}

# ldflags_of stamps versions the way each project's release build does.
ldflags_of() {
	local v=$2
	case $1 in
	knative-serving) echo "-s -w" ;;
	metallb) echo "-s -w -X go.universe.tf/metallb/internal/version.gitCommit=$v -X go.universe.tf/metallb/internal/version.gitBranch=$v" ;;
	coredns) echo "-s -w -X github.com/coredns/coredns/coremain.GitCommit=$v" ;;
	metrics-server)
		local p=sigs.k8s.io/metrics-server/pkg
		echo "-s -w -X $p/version.gitVersion=$v -X $p/version.gitCommit=not_available -X $p/version.buildDate=$3"
		;;
	esac
}

# standin_sum is a digest of the knative.dev/caching stand-in's files.
standin_sum() {
	(cd "$CACHING_STANDIN" && find . -type f \( -name '*.go' -o -name go.mod \) -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
}

# recipe is what decides a component's bytes besides its version and the Go
# version; a cached build with another recipe is rebuilt. No go command, no
# network: a warm call runs offline.
recipe() {
	printf '%s %s CGO_ENABLED=0 -trimpath ldflags=%s bins=%s' "$(module_of "$1")" "$(version_of "$1")" \
		"$(ldflags_of "$1" "$(version_of "$1")" '<module time>')" "$(binaries_of "$1" | tr '\n' ',')"
	if [[ $1 == knative-serving ]]; then
		printf ' knative.dev/caching=>stand-in:%s' "$(standin_sum)"
	fi
	echo
}

build_one() { # component outdir
	local c=$1 out=$2 m v src tmp date ld bin pkg
	m=$(module_of "$c") v=$(version_of "$c")
	command -v go >/dev/null || die "go not found in PATH"
	src=$(module_dir "$m" "$v") && [[ -n $src ]] || return 1
	date=$(module_time "$m" "$v") && [[ -n $date ]] || return 1
	ld=$(ldflags_of "$c" "$v" "$date")
	# A writable copy: go.sum may need entries for the build's packages.
	tmp=$root/src/e2e-$c-$v.$$
	rm -rf "$tmp"
	mkdir -p "$root/src"
	cp -r "$src" "$tmp" && chmod -R u+w "$tmp" || return 1
	if [[ $c == knative-serving ]]; then
		(cd "$tmp" && go mod edit -replace "knative.dev/caching=$CACHING_STANDIN") || return 1
	fi
	while read -r bin pkg; do
		log "  go build $m/${pkg#./} -> $bin"
		if ! (cd "$tmp" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags "$ld" -o "$out/$bin" "$pkg") >&2; then
			rm -rf "$tmp"
			return 1
		fi
	done < <(binaries_of "$c")
	rm -rf "$tmp"
}

complete() { # component dir
	local bin pkg
	[[ -f $2/RECIPE && $(<"$2/RECIPE") == "$(recipe "$1")" ]] || return 1
	while read -r bin pkg; do
		[[ -x $2/$bin ]] || return 1
	done < <(binaries_of "$1")
}

main() {
	local paths=() c gover out lock start tmp
	if command -v go >/dev/null; then
		gover=$(go env GOVERSION)
	else
		die "go not found in PATH"
	fi
	gover=${gover#go}
	for c in "${components[@]}"; do
		out=$root/e2e-$c-$(version_of "$c")-go$gover
		if complete "$c" "$out"; then
			paths+=("$out")
			continue
		fi
		exec {lock}>"$root/.lock"
		flock "$lock"
		if ! complete "$c" "$out"; then
			log "building $c $(version_of "$c") with go$gover"
			start=$SECONDS
			tmp=$root/.tmp-e2e-$c-$$
			rm -rf "$tmp"
			mkdir -p "$tmp"
			if ! build_one "$c" "$tmp"; then
				rm -rf "$tmp"
				die "building $c $(version_of "$c") failed"
			fi
			recipe "$c" >"$tmp/RECIPE"
			rm -rf "$out"
			mv "$tmp" "$out"
			log "built $c in $((SECONDS - start))s: $out"
		fi
		exec {lock}>&-
		paths+=("$out")
	done
	printf '%s\n' "${paths[@]}"
}

main
