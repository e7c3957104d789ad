#!/usr/bin/env bash
# Image benchmarks (issue 5), printed as figures:
#   1. cold build and warm-cache rebuild of the default x86_64 image with
#      'edgeimg build', side by side with mkosi (trixie's, run in a trixie
#      chroot: bookworm's mkosi 14 needs systemd-nspawn and a vfat-capable
#      kernel, neither of which this kind of machine has) building an
#      equivalent image: Debian trixie, the same packages, a GPT disk with
#      an ESP (systemd-boot) and an ext4 root;
#   2. image bytes: raw allocated, .img.zst and .img.xz vs the compressed
#      payloads (the Debian base tarball, plus --payload DIR if given);
#   3. boot seconds under TCG to multi-user.target and to the k0s unit
#      start, from the serial log (TestBootX86).
#
# Usage: hack/bench/image.sh [--payload DIR] [--skip-mkosi] [--skip-boot]
# Needs: mmdebstrap qemu-system-x86 ovmf (and network to the Debian mirror).
# Work dir: $BENCH_WORK (default /tmp/edgeimg-bench-image), wiped first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off
WORK=${BENCH_WORK:-/tmp/edgeimg-bench-image}
MIRROR=${EDGEIMG_TEST_MIRROR:-http://deb.debian.org/debian}
PAYLOAD=""; SKIP_MKOSI=""; SKIP_BOOT=""
while [ $# -gt 0 ]; do
	case "$1" in
	--payload) PAYLOAD=$2; shift 2 ;;
	--skip-mkosi) SKIP_MKOSI=1; shift ;;
	--skip-boot) SKIP_BOOT=1; shift ;;
	*) echo "unknown argument $1" >&2; exit 2 ;;
	esac
done
rm -rf "$WORK"; mkdir -p "$WORK"
go build -o "$WORK/edgeimg" ./cmd/edgeimg
ssh-keygen -q -t ed25519 -N "" -f "$WORK/key" -C bench
ARGS=(--os-only --os-mirror "$MIRROR" --ssh-enabled --ssh-authorized-keys "$(cat "$WORK/key.pub")")
# --payload DIR replaces --os-only: the files of DIR as laid out on the node.
[ -n "$PAYLOAD" ] && ARGS=("${ARGS[@]:1}" --payload "$PAYLOAD")
secs() { local s; s=$(date +%s.%N); "$@" > "$WORK/last.log" 2>&1 || { cat "$WORK/last.log"; exit 1; }; echo "$(date +%s.%N) - $s" | bc; }

echo "== edgeimg build (x86_64-efi, raw)"
export EDGEIMG_CACHE="$WORK/cache"
cold=$(secs "$WORK/edgeimg" build -o "$WORK/out" --format raw "${ARGS[@]}")
warm=$(secs "$WORK/edgeimg" build -o "$WORK/out" --format raw --force "${ARGS[@]}")
sha1=$(sha256sum "$WORK/out/edge-x86_64-efi.img" | cut -c1-64)
warm2=$(secs "$WORK/edgeimg" build -o "$WORK/out" --format raw --force "${ARGS[@]}")
sha2=$(sha256sum "$WORK/out/edge-x86_64-efi.img" | cut -c1-64)
printf 'edgeimg cold build      %7.1f s\n' "$cold"
printf 'edgeimg warm rebuild    %7.1f s  %7.1f s (two runs)\n' "$warm" "$warm2"
echo "reproducible raw image: $([ "$sha1" = "$sha2" ] && echo yes || echo NO) ($sha1)"
grep -E '^\s+(Tools tree|Debian base|Root file system|Boot partition|Root partition|Disk image|Format raw)' "$WORK/last.log" | sed 's/^/  warm step: /'

if [ -z "$SKIP_MKOSI" ]; then
	echo "== mkosi (trixie's, in a trixie chroot) building the same image"
	T="$WORK/mkosi-tree"
	mkdir -p "$T"
	mmdebstrap --quiet --variant=apt --include=mkosi,systemd,systemd-repart,systemd-boot-efi,systemd-ukify,dosfstools,mtools,e2fsprogs,util-linux,fdisk,python3,debian-archive-keyring,ca-certificates,zstd,xz-utils,cpio,kmod trixie "$T.tar" "$MIRROR"
	tar -C "$T" -xf "$T.tar"
	mkdir -p "$T/work"
	cat > "$T/work/mkosi.conf" <<CONF
[Distribution]
Distribution=debian
Release=trixie
LocalMirror=$MIRROR

[Output]
Format=disk
Output=image
ImageId=edge

[Build]
CacheDirectory=mkosi.cache
Incremental=yes

[Content]
Bootable=yes
Bootloader=systemd-boot
KernelCommandLine=console=ttyS0,115200 rw
Packages=systemd,systemd-sysv,udev,kmod,dbus,iproute2,iptables,nftables,util-linux,mount,fdisk,e2fsprogs,ca-certificates,systemd-resolved,systemd-timesyncd,openssh-server,linux-image-amd64,systemd-boot-efi
CONF
	mkdir -p "$T/work/mkosi.cache"
	mk() {
		unshare -m --propagation private sh -c "
			mount --bind '$T' '$T' && mount --rbind /dev '$T/dev' && mount -t proc proc '$T/proc' &&
			mount --rbind /sys '$T/sys' && mount -t tmpfs tmpfs '$T/tmp' && mount -t tmpfs tmpfs '$T/run' &&
			cp /etc/resolv.conf '$T/etc/resolv.conf' && chroot '$T' sh -c 'cd /work && mkosi $*'"
	}
	mcold=$(secs mk --force build)
	mwarm=$(secs mk --force build)
	printf 'mkosi cold build        %7.1f s\n' "$mcold"
	printf 'mkosi warm rebuild      %7.1f s (Incremental=yes, package cache)\n' "$mwarm"
	printf 'edgeimg warm / mkosi warm = %.2f\n' "$(echo "$warm / $mwarm" | bc -l)"
	stat -c "%s %b %B" "$T/work/image.raw" | awk '{printf "mkosi image: %d bytes, %d KiB allocated\n", $1, $2 * $3 / 1024}'
fi

echo "== image bytes"
fmt=$(secs "$WORK/edgeimg" build -o "$WORK/out" --format raw,img.zst,img.xz --force "${ARGS[@]}")
printf 'raw + zst (-%s) + xz (-%s) build: %.1f s\n' 15 6 "$fmt"
img="$WORK/out/edge-x86_64-efi.img"
raw_size=$(stat -c %s "$img"); raw_alloc=$(( $(stat -c %b "$img") * 512 ))
zst=$(stat -c %s "$img.zst"); xz=$(stat -c %s "$img.xz")
base=$(ls "$EDGEIMG_CACHE"/debian/*/rootfs.tar)
base_zst=$(zstd -15 -T0 -c "$base" | wc -c)
payload_zst=0
[ -n "$PAYLOAD" ] && payload_zst=$(tar -C "$PAYLOAD" -cf - . | zstd -15 -T0 -c | wc -c)
printf 'raw image                 %6.1f MiB (%6.1f MiB allocated)\n' "$(echo "$raw_size/1048576" | bc -l)" "$(echo "$raw_alloc/1048576" | bc -l)"
printf '.img.zst                  %6.1f MiB\n' "$(echo "$zst/1048576" | bc -l)"
printf '.img.xz                   %6.1f MiB\n' "$(echo "$xz/1048576" | bc -l)"
printf 'base tar, zstd -15        %6.1f MiB\n' "$(echo "$base_zst/1048576" | bc -l)"
printf 'payload, zstd -15         %6.1f MiB\n' "$(echo "$payload_zst/1048576" | bc -l)"
printf '.img.zst / (base+payload) %6.2f\n' "$(echo "$zst / ($base_zst + $payload_zst)" | bc -l)"

if [ -z "$SKIP_BOOT" ]; then
	echo "== boot under TCG (1 vCPU, spec memory)"
	go test -count=1 -run 'TestBootX86$' -v -timeout 20m ./pkg/image/ 2>&1 | grep -E 'boot under TCG|^(--- |ok|FAIL)' || true
fi
