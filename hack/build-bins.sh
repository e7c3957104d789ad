#!/usr/bin/env bash
# build-bins.sh builds, from the Go module proxy only, the binaries edgeimg's
# tests run for real (kube-apiserver + kine for server-side dry-runs; k0s and
# the Kubernetes components it runs from <data-dir>/bin for the end-to-end
# harness) and caches them:
#
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/build/<component>-<version>-go<goversion>/<binary>
#
# Usage: [K0S_LINE=1.33|1.36] hack/build-bins.sh [-q] <component>...
#        hack/build-bins.sh all
#
# K0S_LINE (hack/lib/lines.sh) picks the versions: 1.33 (the default, what CI
# builds) or 1.36.
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
#   - k0s, 1.33 line: a writable copy of the k0s module, its go.mod moved to
#     $K8S_VERSION (the proxy does not serve the 1.33.8 it pins), built with
#     cgo and tags osusergo,noembedbins: it runs its binaries from
#     <data-dir>/bin.
#   - k0s, 1.36 line: the proxy does not serve the k0s module past 1.33, so
#     the binary is supplied: K0S_BIN=<path> names a k0s that reports
#     $K0S_VERSION and was built with the noembedbins tag (it runs the
#     binaries the tests give it from <data-dir>/bin); it is copied into the
#     cache (keyed by its version and sha256) and found there afterwards.
# Progress goes to stderr; set -q to silence it.
set -euo pipefail
shopt -s inherit_errexit

K0S_MODULE=github.com/k0sproject/k0s

export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off GOTOOLCHAIN=local

quiet=0
if [[ ${1:-} == -q ]]; then
	quiet=1
	shift
fi
prog=build-bins
# shellcheck source=hack/lib/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
# shellcheck source=hack/lib/lines.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/lines.sh"

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
# (hack/lib/version.sh), so /version and node info say $K8S_VERSION.
k8s_ldflags() {
	local v=$K8S_VERSION minor date
	minor=${v#v*.}
	minor=${minor%%.*}
	date=$(module_time k8s.io/kubernetes "$K8S_VERSION") && [[ -n $date ]] || return 1
	[[ $minor =~ ^[0-9]+$ ]] || return 1
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

# supplied_k0s prints the cached copy of the supplied k0s binary of a line
# whose k0s the proxy does not serve (K0S_FROM=binary), copying K0S_BIN
# there first when it is set: it must report $K0S_VERSION.
supplied_k0s() {
	local out=$root/k0s-$K0S_VERSION-supplied got sum lock tmp
	if [[ -z ${K0S_BIN:-} ]]; then
		if [[ -x $out/k0s ]]; then
			echo "$out/k0s"
			return
		fi
		die "K0S_LINE=$K0S_LINE needs a k0s $K0S_VERSION binary built with the noembedbins tag, and none is cached in $out: set K0S_BIN=<path to it> (the module proxy does not serve the k0s module past 1.33; see the README, make e2e)"
	fi
	[[ -x $K0S_BIN && -f $K0S_BIN ]] || die "K0S_BIN=$K0S_BIN: not an executable file"
	got=$("$K0S_BIN" version 2>&1) || die "K0S_BIN=$K0S_BIN: k0s version failed: $got"
	[[ $got == "$K0S_VERSION" ]] || die "K0S_BIN=$K0S_BIN reports k0s \"$got\", K0S_LINE=$K0S_LINE wants $K0S_VERSION"
	sum=$(sha256sum "$K0S_BIN") || die "sha256sum $K0S_BIN failed"
	sum=${sum%% *}
	if [[ -x $out/k0s && -f $out/RECIPE && $(<"$out/RECIPE") == "supplied k0s $K0S_VERSION sha256=$sum" ]]; then
		echo "$out/k0s"
		return
	fi
	# Its own lock: a copy need not wait for the builds.
	exec {lock}>"$out.lock"
	flock "$lock"
	tmp=$root/.tmp-k0s-$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	if ! cp "$K0S_BIN" "$tmp/k0s" || ! chmod 0755 "$tmp/k0s"; then
		die "copying $K0S_BIN failed"
	fi
	printf 'supplied k0s %s sha256=%s\n' "$K0S_VERSION" "$sum" >"$tmp/RECIPE"
	rm -rf "$out"
	mv "$tmp" "$out"
	exec {lock}>&-
	log "k0s $K0S_VERSION from $K0S_BIN (sha256 $sum): $out/k0s"
	echo "$out/k0s"
}

# main is the whole run, parsed before it starts, so editing this file
# during a long build cannot change what the build does.
main() {
	local paths=() c v out bin want lock start tmp
	for c in "${components[@]}"; do
		if [[ $c == k0s && $K0S_FROM == binary ]]; then
			bin=$(supplied_k0s) || exit 1
			paths+=("$bin")
			continue
		fi
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

# exit on the same line: bash reads a script as it runs it, so an edit
# during a long build must not reach what follows main.
main; exit
