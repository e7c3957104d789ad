#!/usr/bin/env bash
# install-deps.sh installs, once, the Debian packages edgeimg's build and
# tests use, and registers qemu-user for arm64 builds when possible. It is
# idempotent: packages already present are not touched, and nothing is
# fetched when everything is there.
#
#   build:   mmdebstrap (Debian base), qemu-user-static (arm64 bases on
#            x86_64 hosts), qemu-utils (the tests' qemu-img)
#   tests:   runc, iptables, containernetworking-plugins (containerd, k0s),
#            openssh-server/-client (deploy, boot tests), qemu-system-x86 +
#            ovmf and qemu-system-arm + qemu-efi-aarch64 (boot tests),
#            dosfstools, mtools, bmap-tools (image checks), shellcheck (lint)
set -euo pipefail

packages=(
	ca-certificates curl git gcc libc6-dev make
	util-linux iproute2 iptables runc containernetworking-plugins
	openssh-server openssh-client
	mmdebstrap qemu-utils qemu-system-x86 ovmf qemu-system-arm qemu-efi-aarch64 qemu-user-static
	dosfstools mtools bmap-tools bc zstd xz-utils shellcheck
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

sudo=()
if ((EUID != 0)); then
	command -v sudo >/dev/null || { echo "install-deps: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=(sudo)
fi

if ((${#missing[@]})); then
	echo "install-deps: installing ${missing[*]}" >&2
	"${sudo[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# arm64 root file systems are built under qemu-user: register it with
# binfmt_misc (Debian's binfmt-support is not needed; the kernel takes the
# line from qemu-user-static's binfmt.d file).
if [[ $(uname -m) != aarch64 && -r /usr/lib/binfmt.d/qemu-aarch64.conf ]]; then
	if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
		"${sudo[@]}" mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null || true
	fi
	if [[ -e /proc/sys/fs/binfmt_misc/register && ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]]; then
		"${sudo[@]}" sh -c 'cat /usr/lib/binfmt.d/qemu-aarch64.conf > /proc/sys/fs/binfmt_misc/register' ||
			echo "install-deps: could not register qemu-aarch64 with binfmt_misc: arm64 builds will say what is missing" >&2
	fi
fi
