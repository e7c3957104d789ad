#!/usr/bin/env bash
# build-bins.sh builds, from the Go module proxy only, the binaries edgeimg's
# tests run for real (kube-apiserver + kine for server-side dry-runs; k0s and
# the Kubernetes components it runs from <data-dir>/bin for the end-to-end
# harness) and caches them:
#
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/build/<component>-<version>-go<goversion>/<binary>
#
# Usage: hack/build-bins.sh [-q] <component>...
#        hack/build-bins.sh all
#
# Components: kube-apiserver kine kubelet kube-controller-manager
# kube-scheduler kube-proxy k0s. It prints one absolute binary path per line,
# in the order asked. A component already built with the same recipe is not
# rebuilt (a second call returns at once); a build goes to a temporary
# directory renamed into place when complete, under a lock, so concurrent
# callers (parallel `go test` packages) build each thing once.
#
# Sources:
#   - Kubernetes components: a generated wrapper module requiring
#     k8s.io/kubernetes $K8S_VERSION with every k8s.io staging module replaced
#     at the matching v0.x version (the upstream go.mod points them at
#     ./staging, which only works inside the Kubernetes repository), build tag
#     providerless, CGO off, version stamped as upstream's release does.
#   - kine: `go install github.com/k3s-io/kine@$KINE_VERSION` with cgo (sqlite).
#   - k0s: a writable copy of the k0s module, its go.mod moved to
#     $K8S_VERSION (the proxy does not serve the 1.33.8 it pins), built with
#     cgo and tags osusergo,noembedbins: it runs its binaries from
#     <data-dir>/bin.
# Progress goes to stderr; set -q to silence it.
set -euo pipefail
shopt -s inherit_errexit

K8S_VERSION=v1.33.13
KINE_VERSION=v0.17.5
K0S_MODULE=github.com/k0sproject/k0s
# kine's own release build (scripts/build) options, less the NATS backend.
KINE_TAGS=sqlite_unlock_notify,sqlite_vtable,sqlite_stat4,sqlite_preupdate_hook,sqlite_math_functions,sqlite_dbstat,sqlite_column_metadata
KINE_CFLAGS="-DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DISABLE_INTRINSIC -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBPAGE_VTAB -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_ENABLE_OFFSET_SQL_FUNC -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_RBU -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_SNAPSHOT -DSQLITE_ENABLE_STAT4 -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1"
K0S_VERSION=v1.33.9-0.20260218131128-cd041608f44a
# The Kubernetes release k0s pins (not served by the proxy): moved to K8S_VERSION.
K0S_K8S_VERSION=v1.33.8
# What `k0s version` reports: the k0s release line this commit belongs to,
# marked as built against a different Kubernetes patch release.
K0S_VERSION_STRING=v1.33.9-dev+k0s.edgeimg
K0S_RUNC_VERSION=1.2.8
K0S_CONTAINERD_VERSION=1.7.30

export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off GOTOOLCHAIN=local

quiet=0
if [[ ${1:-} == -q ]]; then
	quiet=1
	shift
fi
prog=build-bins
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

usage() {
	cat >&2 <<-EOF
		usage: $0 [-q] <component>...   (or: all)
		components: kube-apiserver kine kubelet kube-controller-manager kube-scheduler kube-proxy k0s
	EOF
	exit 2
}

(($#)) || usage
command -v go >/dev/null || die "go not found in PATH"
command -v flock >/dev/null || die "flock not found (Debian package util-linux)"

cache=${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}
root=$cache/build
gover=$(go env GOVERSION)
gover=${gover#go}
mkdir -p "$root"

all=(kube-apiserver kine kubelet kube-controller-manager kube-scheduler kube-proxy k0s)
components=()
for c in "$@"; do
	case $c in
	all) components+=("${all[@]}") ;;
	kube-apiserver | kine | kubelet | kube-controller-manager | kube-scheduler | kube-proxy | k0s) components+=("$c") ;;
	*) die "unknown component \"$c\" (want one of: ${all[*]})" ;;
	esac
done

version_of() {
	case $1 in
	kine) echo "$KINE_VERSION" ;;
	k0s) echo "$K0S_VERSION" ;;
	*) echo "$K8S_VERSION" ;;
	esac
}

# k8s_ldflags stamps the version the way Kubernetes' own release build does
# (hack/lib/version.sh), so /version and node info say v1.33.13.
k8s_ldflags() {
	local v=$K8S_VERSION minor date
	minor=${v#v*.}
	minor=${minor%%.*}
	date=$(module_time k8s.io/kubernetes "$K8S_VERSION") && [[ -n $date ]] || return 1
	local flags="-s -w" pkg
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=not_available -X $pkg.buildDate=$date"
	done
	echo "$flags"
}

# k8s_wrapper prints (creating once) the wrapper module that builds
# k8s.io/kubernetes commands outside the Kubernetes repository.
k8s_wrapper() {
	local dir=$root/src/k8s-wrapper-$K8S_VERSION
	if [[ -f $dir/.complete ]]; then
		echo "$dir"
		return
	fi
	local kdir staging_v tmp=$dir.tmp
	kdir=$(module_dir k8s.io/kubernetes "$K8S_VERSION")
	[[ -f $kdir/go.mod ]] || die "k8s.io/kubernetes@$K8S_VERSION: no go.mod in $kdir"
	staging_v=v0.${K8S_VERSION#v1.}
	rm -rf "$tmp"
	mkdir -p "$tmp"
	{
		echo "module edgeimg.local/k8sbins"
		echo
		# The main module's go and godebug lines set the GODEBUG defaults
		# of the binaries: keep Kubernetes' own.
		grep -E '^(go|godebug) ' "$kdir/go.mod"
		echo
		echo "require k8s.io/kubernetes $K8S_VERSION"
		echo
		echo "replace ("
		# Every staging module Kubernetes replaces with ./staging/src/k8s.io/X.
		sed -n 's#^[[:space:]]*\(k8s\.io/[a-z0-9-]*\) => ./staging/src/k8s.io/[a-z0-9-]*$#\t\1 => \1 '"$staging_v"'#p' "$kdir/go.mod"
		echo ")"
	} >"$tmp/go.mod"
	grep -q "k8s.io/client-go => k8s.io/client-go $staging_v" "$tmp/go.mod" ||
		die "k8s.io/kubernetes@$K8S_VERSION go.mod: found no staging replace directives"
	touch "$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir"
}

# k0s_source prints (creating once) a writable copy of the k0s module with
# every k8s.io module it pins at Kubernetes $K0S_K8S_VERSION moved to
# $K8S_VERSION (requires and replaces alike).
k0s_source() {
	local dir=$root/src/k0s-$K0S_VERSION-k8s$K8S_VERSION
	if [[ -f $dir/.complete ]]; then
		echo "$dir"
		return
	fi
	local src tmp from_s to_s from_k to_k
	src=$(module_dir "$K0S_MODULE" "$K0S_VERSION")
	[[ -f $src/go.mod ]] || die "$K0S_MODULE@$K0S_VERSION: no go.mod in $src"
	from_k=$K0S_K8S_VERSION to_k=$K8S_VERSION
	from_s=v0.${from_k#v1.} to_s=v0.${to_k#v1.}
	grep -q "k8s.io/kubernetes $from_k" "$src/go.mod" ||
		die "$K0S_MODULE@$K0S_VERSION go.mod does not pin k8s.io/kubernetes $from_k: update K0S_K8S_VERSION"
	tmp=$dir.tmp
	rm -rf "$tmp"
	{ cp -r "$src" "$tmp" && chmod -R u+w "$tmp"; } || die "copying $src failed"
	sed -E -i "/^[[:space:]]*k8s\.io\//{s/ ${from_s//./\\.}\b/ $to_s/g; s/ ${from_k//./\\.}\b/ $to_k/g}" "$tmp/go.mod"
	if grep -Eq "k8s\.io/.* (${from_s//./\\.}|${from_k//./\\.})\b" "$tmp/go.mod"; then
		die "k0s go.mod still names Kubernetes $from_k after the move"
	fi
	touch "$tmp/.complete"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	echo "$dir"
}

# recipe prints what decides a component's bytes besides its version and Go
# version; a cached build with a different recipe is rebuilt. It must not
# need the go command or the network: a warm call runs offline.
recipe() {
	case $1 in
	kine) echo "go install github.com/k3s-io/kine@$KINE_VERSION cgo tags=$KINE_TAGS CGO_CFLAGS=$KINE_CFLAGS" ;;
	k0s) echo "k0s $K0S_VERSION k8s=$K8S_VERSION tags=osusergo,noembedbins cgo version=$K0S_VERSION_STRING" ;;
	*) echo "k8s.io/kubernetes/cmd/$1 $K8S_VERSION wrapper tags=providerless CGO_ENABLED=0 -s -w version-stamped" ;;
	esac
}

build_one() { # component outdir
	local c=$1 out=$2
	case $c in
	kine)
		local pkg=github.com/k3s-io/kine
		# go install pkg@version refuses -mod=mod.
		GOFLAGS='' GOBIN=$out CGO_ENABLED=1 CGO_CFLAGS="$KINE_CFLAGS" \
			go install -trimpath -tags "$KINE_TAGS" \
			-ldflags "-s -w -X $pkg/pkg/version.Version=$KINE_VERSION -X $pkg/pkg/version.GitCommit=not_available" \
			"$pkg@$KINE_VERSION" >&2
		;;
	k0s)
		local src p=github.com/k0sproject/k0s/pkg/build date
		# Explicit checks: errexit does not apply inside `if ! build_one`.
		src=$(k0s_source) && [[ -n $src ]] || return 1
		date=$(module_time "$K0S_MODULE" "$K0S_VERSION") && [[ -n $date ]] || return 1
		local ld="-s -w -X $p.Version=$K0S_VERSION_STRING -X $p.RuncVersion=$K0S_RUNC_VERSION"
		ld+=" -X $p.ContainerdVersion=$K0S_CONTAINERD_VERSION -X $p.KubernetesVersion=${K8S_VERSION#v}"
		ld+=" -X $p.KineVersion=${KINE_VERSION#v}"
		ld+=" -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
		ld+=" -X k8s.io/component-base/version.gitMinor=33 -X k8s.io/component-base/version.buildDate=$date"
		ld+=" -X k8s.io/component-base/version.gitCommit=not_available"
		ld+=" -X github.com/containerd/containerd/version.Version=$K0S_CONTAINERD_VERSION"
		(cd "$src" && CGO_ENABLED=1 go build -trimpath -buildvcs=false -tags osusergo,noembedbins \
			-ldflags "$ld" -o "$out/k0s" .) >&2
		;;
	*)
		local w ld
		w=$(k8s_wrapper) && [[ -n $w ]] || return 1
		ld=$(k8s_ldflags) || return 1
		(cd "$w" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -tags providerless \
			-ldflags "$ld" -o "$out/$c" "k8s.io/kubernetes/cmd/$c") >&2
		;;
	esac
}

# main is the whole run, parsed before it starts, so editing this file
# during a long build cannot change what the build does.
main() {
	local paths=() c v out bin want lock start tmp
	for c in "${components[@]}"; do
		v=$(version_of "$c")
		out=$root/$c-$v-go$gover
		bin=$out/$c
		want=$(recipe "$c")
		if [[ -x $bin && -f $out/RECIPE && $(<"$out/RECIPE") == "$want" ]]; then
			paths+=("$bin")
			continue
		fi
		# One build at a time: the Kubernetes builds share a module and the
		# machine has few cores. Re-check once the lock is ours.
		exec {lock}>"$root/.lock"
		flock "$lock"
		if ! [[ -x $bin && -f $out/RECIPE && $(<"$out/RECIPE") == "$want" ]]; then
			log "building $c $v with go$gover"
			start=$SECONDS
			tmp=$root/.tmp-$c-$$
			rm -rf "$tmp"
			mkdir -p "$tmp"
			if ! build_one "$c" "$tmp"; then
				rm -rf "$tmp"
				die "building $c $v failed"
			fi
			[[ -x $tmp/$c ]] || {
				rm -rf "$tmp"
				die "building $c $v produced no $c binary"
			}
			printf '%s\n' "$want" >"$tmp/RECIPE"
			rm -rf "$out"
			mv "$tmp" "$out"
			log "built $c $v in $((SECONDS - start))s: $bin"
		fi
		exec {lock}>&-
		paths+=("$bin")
	done
	printf '%s\n' "${paths[@]}"
}

main
