#!/usr/bin/env bash
# e2e.sh runs the end-to-end benchmark (test/e2e BenchmarkEdgeStart) on a
# real k0s node and prints its figures: seconds from k0s's start to the
# apiserver ready, the node Ready, every stack applied and the hello
# Knative Service Ready, with the images preloaded into containerd's store
# vs imported from an OCI bundle in <data-dir>/images, and preloaded on the
# plan's node (the whole cluster capped by its cgroup at one CPU of time and
# the plan's 1536 MiB), and the idle node's memory against the 1 GiB goal.
#
# Needs root and what `make e2e` needs (hack/build-bins.sh,
# hack/build-containerd.sh, hack/e2e-images.sh builds, cached; Debian
# packages runc, iptables, containernetworking-plugins, util-linux,
# iproute2). Env: BENCHTIME (default 1x), EDGEIMG_FIXTURES.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOFLAGS=-mod=mod GONOSUMDB='*' GOSUMDB=off
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -tags e2e -run '^$' -bench BenchmarkEdgeStart -benchtime "${BENCHTIME:-1x}" -timeout 60m ./test/e2e | tee "$out" >&2
awk '
/^BenchmarkEdgeStart\// {
	name = $1; sub(/^BenchmarkEdgeStart\//, "", name); sub(/-[0-9]+$/, "", name)
	for (i = 3; i < NF; i += 2) v[name, $(i + 1)] = $i
	modes[++n] = name
}
END {
	if (n == 0) { print "e2e.sh: no benchmark figures" > "/dev/stderr"; exit 1 }
	w = 12
	for (m = 1; m <= n; m++) if (length(modes[m]) + 2 > w) w = length(modes[m]) + 2
	printf "%-34s", "seconds from k0s start to"
	for (m = 1; m <= n; m++) printf "%*s", w, modes[m]
	printf "\n"
	split("s-apiserver-ready:apiserver ready,s-node-ready:node Ready,s-stacks-applied:every stack applied,s-hello-ready:hello Ready", rows, ",")
	for (r = 1; r in rows; r++) {
		split(rows[r], kv, ":")
		printf "%-34s", kv[2]
		for (m = 1; m <= n; m++) printf "%*.1f", w, v[modes[m], kv[1]]
		printf "\n"
	}
	printf "\n%-34s", "idle node memory (MiB)"
	for (m = 1; m <= n; m++) printf "%*s", w, modes[m]
	printf "\n"
	split("MiB-pods:pods (working sets),MiB-node-rss:node (pods + process RSS),MiB-node-pss:node (pods + process PSS),oom-kills:OOM kills in the cluster cgroup", rows, ",")
	for (r = 1; r in rows; r++) {
		split(rows[r], kv, ":")
		printf "%-34s", kv[2]
		for (m = 1; m <= n; m++) printf "%*.0f", w, v[modes[m], kv[1]]
		printf "\n"
	}
	printf "%-34s%*d\n", "goal", w, 1024
}' "$out"
