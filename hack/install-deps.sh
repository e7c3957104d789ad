#!/usr/bin/env bash
# install-deps.sh installs the Debian packages whose commands edgeimg's build,
# tests, benchmarks, end-to-end run and lint call, then checks that every one
# of those commands resolves, and registers qemu-user for arm64 builds when
# possible. It is idempotent: packages already present are not touched, and
# nothing is fetched when everything is there.
#
#   install-deps.sh          install what is missing, then check every tool
#   install-deps.sh --check  only check that every tool resolves (no install)
#   install-deps.sh --list   print the tool → package map ("group tool package")
#
# The map below comes from going through every exec.Command / exec.LookPath /
# testkit.NeedHostCommand call in the Go code and every command the scripts
# under hack/, pkg/bundle/ and overlays/ run on the build machine. A tool is a
# command name looked up in PATH (with /usr/sbin and /sbin added) or an
# absolute path for files that are not commands (firmware, CNI plugins).
# `make check-deps` verifies it on a fresh Debian root, and that every name
# the Go code passes to exec.Command is in it.
#
# Go itself is not a Debian package here: install Go (go.mod's version) from
# go.dev so that `go` is in PATH.
set -euo pipefail

# group tool package
map=(
	# build: what `edgeimg build` runs on the build machine
	"build mmdebstrap mmdebstrap"                 # Debian base and tools tree (pkg/image/debian, pkg/image/tools)
	"build arch-test arch-test"                   # mmdebstrap: foreign architecture (arm64 on x86_64)
	"build qemu-aarch64-static qemu-user-static"  # mmdebstrap: arm64 maintainer scripts under binfmt_misc
	"build bash bash"                             # hack/*.sh, run by the tests too
	"build tar tar"                               # tools tree unpacking (pkg/image/tools)
	"build /etc/ssl/certs/ca-certificates.crt ca-certificates" # https mirrors, module proxy
	# build from source: make build, testbins, e2ebins (hack/build-*.sh, hack/e2e-images.sh)
	"build gcc gcc"                               # cgo: kine, k0s, kubelet
	"build /usr/include/stdio.h libc6-dev"        # cgo headers
	"build make make"
	"build git git"                               # Makefile: version from git describe
	"build flock util-linux"                      # hack/*.sh cache locks
	# test: unit and integration tests (make test)
	"test sfdisk fdisk"                           # pkg/image, pkg/image/disk: partition tables
	"test fsck.fat dosfstools"                    # ESP / firmware partition checks
	"test mtype mtools"                           # ESP / firmware partition contents
	"test bmaptool bmap-tools"                    # .bmap files copied back
	"test e2fsck e2fsprogs"                       # root file system checks
	"test awk mawk"                               # device-config reader (node side, as on the device)
	"test dash dash"                              # node-side scripts run by /bin/sh as on the device
	"test sh dash"                                # pkg/bundle, test/e2e: sh scripts
	"test cp coreutils"                           # pkg/image, pkg/airgap: sparse copies
	"test dd coreutils"
	"test env coreutils"                          # internal/testkit/k0s: launch wrapper
	"test ldd libc-bin"                           # internal/testkit/ctrimage: binaries' libraries
	"test unshare util-linux"                     # internal/testkit/k0s: k0s in its own namespaces
	"test nsenter util-linux"
	"test mount mount"
	"test ip iproute2"                            # network namespaces, veth, kube-bridge checks
	"test iptables iptables"
	"test /usr/sbin/xtables-legacy-multi iptables"
	"test /usr/sbin/xtables-nft-multi iptables"
	"test /usr/sbin/runc runc"                    # containerd and k0s's containers
	"test /usr/lib/cni/bridge containernetworking-plugins"
	"test /usr/lib/cni/host-local containernetworking-plugins"
	"test /usr/lib/cni/portmap containernetworking-plugins"
	"test /usr/lib/cni/loopback containernetworking-plugins"
	"test /usr/sbin/sshd openssh-server"          # pkg/deploy: real sshd
	"test ssh-keygen openssh-client"
	"test systemd-analyze systemd"                # pkg/k0sconfig: the rendered unit verified as systemd parses it
	"test ssh-agent openssh-client"
	"test ssh-add openssh-client"
	"test ssh openssh-client"                     # hack/bench/deploy.sh baseline
	"test qemu-system-x86_64 qemu-system-x86"     # boot tests
	"test /usr/share/OVMF/OVMF_CODE_4M.fd ovmf"
	"test qemu-system-aarch64 qemu-system-arm"
	"test /usr/share/AAVMF/AAVMF_CODE.fd qemu-efi-aarch64"
	"test qemu-img qemu-utils"
	# bench: hack/bench/*.sh
	"bench bc bc"
	"bench zstd zstd"
	"bench xz xz-utils"
	"bench sha256sum coreutils"
	# e2e: test/e2e runs k0s with the test tools above, images built by Go
	"e2e xargs findutils"                         # hack/e2e-images.sh source hashes
	# lint: make lint
	"lint shellcheck shellcheck"
)

mode=install
case ${1:-} in
"") ;;
--check) mode=check ;;
--list) mode=list ;;
*) echo "usage: install-deps.sh [--check|--list]" >&2; exit 2 ;;
esac

if [[ $mode == list ]]; then
	for line in "${map[@]}"; do echo "$line"; done
	exit 0
fi

# resolves TOOL: true when the command is in PATH (sbin directories added,
# as a non-root user's PATH may lack them) or the absolute path exists.
resolves() {
	if [[ $1 == /* ]]; then
		[[ -e $1 ]]
	else
		PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin command -v "$1" >/dev/null
	fi
}

if [[ $mode == install ]]; then
	declare -A want=()
	for line in "${map[@]}"; do
		read -r _ _ pkg <<<"$line"
		want[$pkg]=1
	done
	missing=()
	for p in $(printf '%s\n' "${!want[@]}" | sort); do
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
fi

# Check the commands, not the package names: a package that installed but
# does not provide the tool (renamed, split) fails here with the tool's name.
bad=0
n=0
for line in "${map[@]}"; do
	read -r group tool pkg <<<"$line"
	n=$((n + 1))
	if ! resolves "$tool"; then
		echo "install-deps: $tool not found (needed by $group; Debian package $pkg)" >&2
		bad=$((bad + 1))
	fi
done
if ! command -v go >/dev/null; then
	echo "install-deps: go not found in PATH (install Go from go.dev, the version in go.mod)" >&2
	bad=$((bad + 1))
fi
if ((bad)); then
	echo "install-deps: $bad of $((n + 1)) tools missing" >&2
	exit 1
fi
echo "install-deps: all $((n + 1)) tools resolve" >&2
