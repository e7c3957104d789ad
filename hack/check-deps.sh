#!/usr/bin/env bash
# check-deps.sh proves hack/install-deps.sh on a machine that never had the
# packages installed by hand: a minimal Debian bookworm root (mmdebstrap
# --variant=minbase, from the mirror in this host's apt sources) with only Go
# (/usr/local/go) brought in. In it, as root in a chroot, it runs
# install-deps.sh, then `install-deps.sh --check`, `go version` and a tiny cgo
# build. Before that, on the host, it checks that every command name the Go
# code runs by name (exec.Command, exec.CommandContext, exec.LookPath,
# testkit.NeedHostCommand with a string literal) is in install-deps.sh's map,
# naming the file that calls a missing one.
#
# The base tarball is cached, keyed by BASE_VERSION, suite, architecture and
# mirror, under
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/check-deps/
# with the .deb files apt fetched (so a warm run downloads nothing but the
# package lists). Bump BASE_VERSION to rebuild the base.
#
# Usage: hack/check-deps.sh   (as root: mmdebstrap --mode=root, chroot, mounts)
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_VERSION=1
SUITE=bookworm
prog=check-deps
log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }

start=$SECONDS
elapsed() { printf '%dm%02ds' $(((SECONDS - start) / 60)) $(((SECONDS - start) % 60)); }

# 1. Every command the Go code calls by name is in the map.
declare -A inmap=()
while read -r _ tool _; do
	inmap[$tool]=1
	inmap[${tool##*/}]=1
done < <(bash hack/install-deps.sh --list)
# go comes from go.dev, not from a Debian package (install-deps.sh checks it).
inmap[go]=1

missing=0
ncalls=0
while IFS= read -r hit; do
	file=${hit%%:*}
	rest=${hit#*:}
	line=${rest%%:*}
	name=$(sed -nE 's/.*(exec\.Command(Context)?\((ctx, *)?|exec\.LookPath\(|NeedHostCommand\(t, *)"([^"]+)".*/\4/p' <<<"$rest")
	[[ -n $name ]] || continue
	ncalls=$((ncalls + 1))
	if [[ -z ${inmap[$name]:-} && -z ${inmap[${name##*/}]:-} ]]; then
		log "$name (called in $file:$line) is not in hack/install-deps.sh's map: add \"GROUP $name PACKAGE\""
		missing=$((missing + 1))
	fi
done < <(git ls-files -- '*.go' | xargs grep -nE 'exec\.Command(Context)?\((ctx, *)?"|exec\.LookPath\("|NeedHostCommand\(t, *"' /dev/null)
((missing == 0)) || die "$missing command(s) the Go code calls are not in the map"
log "the $ncalls calls by name in the Go code are all in the map"

# 2. A fresh bookworm root.
((EUID == 0)) || die "run as root (mmdebstrap --mode=root, chroot, mounts)"
for c in mmdebstrap chroot unshare mount; do
	command -v "$c" >/dev/null || die "$c not found: run hack/install-deps.sh first"
done
[[ -x /usr/local/go/bin/go ]] || die "/usr/local/go/bin/go not found: Go from go.dev is expected there"

# The mirror is the host's own Debian mirror (first main archive URI in its
# apt sources), so the chroot's apt reaches what the host's reaches.
mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
	grep -oE '(https?|file)://[^ ]*/debian/?( |$)' | grep -v security | head -1 | tr -d ' ' || true)
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}
arch=$(dpkg --print-architecture)
cache=${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/check-deps
key=$(printf '%s %s %s %s' "$BASE_VERSION" "$SUITE" "$arch" "$mirror" | sha256sum | cut -c1-12)
base=$cache/$SUITE-minbase-$arch-v$BASE_VERSION-$key.tar
debs=$cache/debs-$SUITE-$arch
mkdir -p "$cache" "$debs/partial"

if [[ ! -s $base ]]; then
	log "building $SUITE minbase from $mirror (once; cached as $base)"
	tmp=$(mktemp "$cache/.base-XXXXXX.tar")
	mmdebstrap --quiet --variant=minbase --mode=root --arch="$arch" "$SUITE" "$tmp" \
		"deb $mirror $SUITE main" "deb $mirror $SUITE-updates main" \
		|| { rm -f "$tmp"; die "mmdebstrap $SUITE failed"; }
	mv "$tmp" "$base"
fi

root=$(mktemp -d "$cache/.root-XXXXXX")
trap 'rm -rf "$root"' EXIT
tar -C "$root" -xf "$base"
mkdir -p "$root/usr/local/go" "$root/edgeimg/hack"
cp hack/install-deps.sh "$root/edgeimg/hack/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
# No daemon (sshd from openssh-server) is started inside the chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod +x "$root/usr/sbin/policy-rc.d"
cat >"$root/edgeimg/cgo.go" <<'EOF'
package main

// int answer(void) { return 42; }
import "C"

import "fmt"

func main() { fmt.Println("cgo says", C.answer()) }
EOF

# 3. In it: install, check, Go. Mounts live in a private mount namespace and
# go away with it; Go is bound read-only, the .deb cache read-write.
log "installing in the fresh root ($(elapsed))"
# shellcheck disable=SC2016 # expanded by the inner shell
inner='
set -e
mount --rbind /dev "$R/dev"
mount -t proc proc "$R/proc"
mount -t sysfs sysfs "$R/sys"
mount --bind -o ro /usr/local/go "$R/usr/local/go"
mount --bind "$DEBS" "$R/var/cache/apt/archives"
exec chroot "$R" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
	PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	GOTOOLCHAIN=local GOFLAGS= CGO_ENABLED=1 /bin/bash -c "
set -e
bash /edgeimg/hack/install-deps.sh
bash /edgeimg/hack/install-deps.sh --check
go version
cd /edgeimg && go build -o /tmp/cgo cgo.go && /tmp/cgo
"'
if ! R=$root DEBS=$debs unshare --mount --propagation private bash -c "$inner" 2>&1 | sed 's/^/  | /'; then
	die "the fresh $SUITE root failed after $(elapsed): see above"
fi
n=$(bash hack/install-deps.sh --list | wc -l)
log "all $((n + 1)) tools (go included) resolve in a fresh $SUITE root, go and cgo work ($(elapsed))"
