#!/bin/sh
# Bytes and time of `edgeimg deploy` for a payload the size of the default
# one (k0s binary ~250 MiB, image bundle ~1 GiB, config and stacks), over a
# real OpenSSH server on loopback into a root prefix (--upload-only
# --root: nothing on this machine outside the bench dir changes).
#
# Prints one line per run: first deploy, repeated deploy (nothing to send),
# after corrupting the bundle on the host, after an interrupted upload, and
# a baseline: the bundle piped through OpenSSH's own client to the same
# server.
#
# Needs: go, openssh-server, openssh-client, coreutils. Run as root (sshd).
# Env: EDGEIMG_BENCH_DIR (default /tmp/edgeimg-bench-deploy; the generated
# payload is kept there and reused), K0S_MIB (250), BUNDLE_MIB (1024).
set -eu

BENCH=${EDGEIMG_BENCH_DIR:-/tmp/edgeimg-bench-deploy}
K0S_MIB=${K0S_MIB:-250}
BUNDLE_MIB=${BUNDLE_MIB:-1024}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
mkdir -p "$BENCH"
TREE=$BENCH/payload-$K0S_MIB-$BUNDLE_MIB
TARGET=$BENCH/target
SSHD_DIR=$BENCH/sshd

echo "# building edgeimg"
(cd "$ROOT" && GOFLAGS=${GOFLAGS:--mod=mod} go build -o "$BENCH/edgeimg" ./cmd/edgeimg)

if [ ! -f "$TREE.complete" ]; then
	echo "# generating the payload in $TREE (random content: layers and binaries do not compress)"
	rm -rf "$TREE"
	mkdir -p "$TREE/usr/local/bin" "$TREE/etc/k0s" "$TREE/var/lib/k0s/images" \
		"$TREE/var/lib/k0s/manifests/knative-serving" "$TREE/var/lib/k0s/manifests/kourier" \
		"$TREE/var/lib/k0s/manifests/metallb" "$TREE/var/lib/edgeimg/staged/metallb-pool"
	head -c $((K0S_MIB << 20)) /dev/urandom > "$TREE/usr/local/bin/k0s"
	chmod 755 "$TREE/usr/local/bin/k0s"
	head -c $((BUNDLE_MIB << 20)) /dev/urandom > "$TREE/var/lib/k0s/images/edgeimg-bundle.tar"
	printf 'apiVersion: k0s.k0sproject.io/v1beta1\nkind: ClusterConfig\nmetadata:\n  name: k0s\n' > "$TREE/etc/k0s/k0s.yaml"
	for f in knative-serving/serving-core kourier/kourier metallb/metallb-native; do
		head -c 1500000 /dev/urandom | base64 > "$TREE/var/lib/k0s/manifests/$f.yaml"
	done
	head -c 2000 /dev/urandom | base64 > "$TREE/var/lib/edgeimg/staged/metallb-pool/pool.yaml"
	touch "$TREE.complete"
fi
PAYLOAD=$TREE
total=$(du -sb "$PAYLOAD" | cut -f1)

echo "# starting sshd"
rm -rf "$SSHD_DIR" "$TARGET"
mkdir -p "$SSHD_DIR" "$TARGET" /run/sshd
ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$SSHD_DIR/client_key"
cp "$SSHD_DIR/client_key.pub" "$SSHD_DIR/authorized_keys"
PORT=$(shuf -i 20000-60000 -n 1)
cat > "$SSHD_DIR/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $SSHD_DIR/host_key
AuthorizedKeysFile $SSHD_DIR/authorized_keys
PidFile $SSHD_DIR/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
PermitRootLogin prohibit-password
EOF
/usr/sbin/sshd -f "$SSHD_DIR/sshd_config" -E "$SSHD_DIR/sshd.log" || { cat "$SSHD_DIR/sshd.log"; exit 1; }
trap 'kill "$(cat "$SSHD_DIR/sshd.pid")" 2>/dev/null || true; rm -rf "$TARGET"' EXIT
sleep 0.5
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$SSHD_DIR/host_key.pub")" > "$SSHD_DIR/known_hosts"

deploy() {
	"$BENCH/edgeimg" deploy --payload "$PAYLOAD" --root "$TARGET" --host "root@127.0.0.1:$PORT" \
		--ssh-key "$SSHD_DIR/client_key" --known-hosts "$SSHD_DIR/known_hosts" "$@"
}

# measure LABEL ARGS...: one deploy, printing its summary line and wall time.
RUN=0
measure() {
	label=$1
	shift
	RUN=$((RUN + 1))
	log=$BENCH/run-$RUN.log
	start=$(date +%s.%N)
	deploy "$@" > "$log" 2>&1 || true
	end=$(date +%s.%N)
	line=$(grep '^root@' "$log" | tail -n 1)
	printf '%-34s %-10s %s s   (files sent/resumed/unchanged %s, result %s)\n' "$label" \
		"$(echo "$line" | awk -F '  +' '{print $4}')" "$(awk "BEGIN { printf \"%.1f\", $end - $start }")" \
		"$(echo "$line" | awk -F '  +' '{print $3}')" "$(echo "$line" | awk -F '  +' '{print $2}')"
}

echo "# payload: $(find "$PAYLOAD" -type f | wc -l) files, $((total >> 20)) MiB; load average $(cut -d' ' -f1-3 /proc/loadavg); logs in $BENCH/run-N.log"
printf '%-34s %-10s %s\n' RUN SENT TIME
measure "first deploy"
measure "repeated deploy (no change)"
# Flip one byte of the bundle on the host: detected by sha256, sent again.
printf 'X' | dd of="$TARGET/var/lib/k0s/images/edgeimg-bundle.tar" bs=1 seek=12345 conv=notrunc status=none
measure "bundle corrupted on the host"
# Interrupt an upload of the bundle half way, then resume it.
rm -f "$TARGET/var/lib/k0s/images/edgeimg-bundle.tar"
head -c $((BUNDLE_MIB << 19)) "$PAYLOAD/var/lib/k0s/images/edgeimg-bundle.tar" > "$TARGET/var/lib/k0s/images/edgeimg-bundle.tar.edgeimg-part"
measure "resume after half the bundle"
measure "dry run (nothing to do)" --dry-run

start=$(date +%s.%N)
ssh -q -i "$SSHD_DIR/client_key" -p "$PORT" -o UserKnownHostsFile="$SSHD_DIR/known_hosts" root@127.0.0.1 \
	'cat > /dev/null' < "$PAYLOAD/var/lib/k0s/images/edgeimg-bundle.tar"
end=$(date +%s.%N)
printf '%-34s %-10s %s s\n' "baseline: bundle via OpenSSH ssh" "$BUNDLE_MIB MiB" "$(awk "BEGIN { printf \"%.1f\", $end - $start }")"
start=$(date +%s.%N)
sha256sum "$PAYLOAD/var/lib/k0s/images/edgeimg-bundle.tar" > /dev/null
end=$(date +%s.%N)
printf '%-34s %-10s %s s\n' "baseline: sha256sum of the bundle" "-" "$(awk "BEGIN { printf \"%.1f\", $end - $start }")"
