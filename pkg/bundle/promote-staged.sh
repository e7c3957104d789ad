#!/bin/sh
# promote-staged (edgeimg): move staged k0s manifest stacks into k0s's
# manifests directory once the Deployments serving the admission webhooks
# that guard them are Available, then make sure k0s applied them.
#
# k0s's manifest deployer retries a failed stack for about 51 seconds and
# then waits for a file in the stack to change; on a slow first boot the
# webhooks come up much later. This runs after k0s on every boot, waits as
# long as it takes, and touches a stack's files again until its objects
# exist.
#
# Layout: $EDGEIMG_STAGED_DIR/<stack>/*.yaml   the stack's files
#         $EDGEIMG_STAGED_DIR/<stack>/gates    namespace/deployment per line
#         $EDGEIMG_STAGED_DIR/<stack>/objects  "resource namespace|- name" per line
set -eu

DATA_DIR="${K0S_DATA_DIR:-/var/lib/k0s}"
MANIFESTS="${EDGEIMG_MANIFESTS_DIR:-$DATA_DIR/manifests}"
STAGED="${EDGEIMG_STAGED_DIR:-/var/lib/edgeimg/staged}"
K0S="${EDGEIMG_K0S:-k0s}"
KUBECONFIG_PATH="${EDGEIMG_KUBECONFIG:-$DATA_DIR/pki/admin.conf}"
TIMEOUT="${EDGEIMG_PROMOTE_TIMEOUT:-3600}"
INTERVAL="${EDGEIMG_PROMOTE_INTERVAL:-5}"
RETOUCH="${EDGEIMG_PROMOTE_RETOUCH:-20}"
DEVICE_ENV="${EDGEIMG_DEVICE_ENV:-/etc/edgeimg/device.env}"

log() { printf 'promote-staged: %s\n' "$*"; }

# env_get FILE NAME: the value of NAME=... in FILE (the last one), read as
# data: the file is never sourced, so nothing in it expands or runs. One
# pair of surrounding double quotes is removed. Kept identical in
# pkg/bundle/apply-site.sh and promote-staged.sh (TestEnvGetOneDefinition).
env_get() {
	sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1 | sed 's/^"\(.*\)"$/\1/'
}
kubectl() { "$K0S" kubectl --kubeconfig="$KUBECONFIG_PATH" "$@" </dev/null; }
now() { date +%s; }
deadline=$(( $(now) + TIMEOUT ))

# wait_for DESCRIPTION COMMAND...: retry COMMAND until it succeeds or the
# deadline passes.
wait_for() {
	desc=$1
	shift
	until "$@" >/dev/null 2>&1; do
		if [ "$(now)" -ge "$deadline" ]; then
			log "timed out after ${TIMEOUT}s waiting for $desc"
			return 1
		fi
		sleep "$INTERVAL"
	done
}

available() {
	[ "$(kubectl -n "${1%%/*}" get deployment "${1#*/}" \
		-o 'jsonpath={.status.conditions[?(@.type=="Available")].status}')" = True ]
}

# applied STACKDIR: every object the stack lists exists.
applied() {
	objects=$(cat "$1/objects")
	echo "$objects" | while read -r resource ns name; do
		[ -n "$resource" ] || continue
		if [ "$ns" = "-" ]; then
			kubectl get "$resource" "$name" >/dev/null 2>&1 || return 1
		else
			kubectl -n "$ns" get "$resource" "$name" >/dev/null 2>&1 || return 1
		fi
	done
}

node_registered() { [ -n "$(kubectl get nodes -o name)" ]; }

# label_node: set the per-device node labels (EDGEIMG_NODE_LABELS,
# comma-separated k=v, from edgeimg-device.yaml) on this single node.
label_node() {
	labels=""
	set -f # the words are labels, never patterns
	for l in $(env_get "$DEVICE_ENV" EDGEIMG_NODE_LABELS | tr ',' ' '); do
		case $l in
		*=*=* | *[!A-Za-z0-9._/=-]* | [!A-Za-z0-9]*) l="" ;;
		*=*) ;;
		*) l="" ;;
		esac
		if [ -z "$l" ]; then
			set +f
			log "refusing the node labels in $DEVICE_ENV: expected key=value,..."
			return 1
		fi
		labels="${labels:+$labels }$l"
	done
	set +f
	[ -n "$labels" ] || return 0
	# `get nodes` succeeds with no node at all: wait for a name. On a slow
	# first boot the API server answers minutes before the kubelet has
	# registered the node.
	wait_for "the node to register" node_registered
	# shellcheck disable=SC2086
	kubectl label nodes --all --overwrite $labels >/dev/null
	log "node labels: $labels"
}

# promote STACKDIR: make its files live. A new stack appears whole (the
# directory is renamed into place); an existing one has each file replaced
# atomically. Only *.yaml names are ever seen by k0s.
promote() {
	src=$1
	name=$(basename "$src")
	dst="$MANIFESTS/$name"
	if [ ! -d "$dst" ]; then
		tmp="$DATA_DIR/.edgeimg-promote.$name.$$"
		rm -rf "$tmp"
		mkdir -p "$tmp"
		cp "$src"/*.yaml "$tmp"/
		mv "$tmp" "$dst"
		return
	fi
	for f in "$src"/*.yaml; do
		base=$(basename "$f")
		if ! cmp -s "$f" "$dst/$base"; then
			cp "$f" "$dst/.$base.tmp"
			mv -f "$dst/.$base.tmp" "$dst/$base"
		fi
	done
	touch "$dst"/*.yaml
}

promote_stack() {
	src=$1
	name=$(basename "$src")
	gates=""
	[ -f "$src/gates" ] && gates=$(cat "$src/gates")
	for gate in $gates; do
		log "$name: waiting for deployment $gate to be Available"
		wait_for "deployment $gate" available "$gate" || return 1
	done
	log "$name: promoting into $MANIFESTS/$name"
	promote "$src"
	# k0s applies a new stack within seconds: give it RETOUCH seconds, and
	# touch the files only when that was not enough.
	attempt=0
	while ! applied "$src"; do
		if [ "$(now)" -ge "$deadline" ]; then
			log "$name: objects still missing after ${TIMEOUT}s; see the k0s log (applier-$name)"
			return 1
		fi
		sleep "$RETOUCH"
		applied "$src" && break
		attempt=$((attempt + 1))
		log "$name: not applied yet, touching its files so k0s applies it again (attempt $attempt)"
		touch "$MANIFESTS/$name"/*.yaml
	done
	log "$name: applied"
}

main() {
	mkdir -p "$MANIFESTS"
	log "waiting for the API server"
	wait_for "the API server" kubectl get --raw=/readyz
	label_node || log "could not set the node labels"
	pids=""
	[ -d "$STAGED" ] || log "nothing staged in $STAGED"
	for src in "$STAGED"/*/; do
		[ -d "$src" ] || continue
		promote_stack "${src%/}" &
		pids="$pids $!"
	done
	failed=0
	for pid in $pids; do
		wait "$pid" || failed=1
	done
	return "$failed"
}

main "$@"
