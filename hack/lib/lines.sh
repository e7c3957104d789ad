# shellcheck shell=bash disable=SC2034
# (SC2034: the variables are the sourcing scripts'.)
# Sourced by hack/build-bins.sh and hack/build-containerd.sh: the k0s line
# (K0S_LINE, default 1.33) picks the version of every component the tests
# run, as that k0s release embeds them (its embedded-bins/Makefile.variables),
# or the nearest the Go module proxy serves.
#
#   1.33  k0s from the module proxy (a commit of the 1.33 line, its go.mod
#         moved to Kubernetes 1.33.13, which the proxy serves), Kubernetes
#         v1.33.13, kine v0.17.5, containerd 1.7.30. What CI builds.
#   1.36  k0s v1.36.3+k0s.2, Kubernetes v1.36.3, kine v0.16.3, containerd
#         2.3.3 (module github.com/containerd/containerd/v2): the
#         components from the module proxy; k0s is not served past 1.33, so
#         its binary is supplied (K0S_BIN, see hack/build-bins.sh).
#
# The caller sets prog first (die comes from hack/lib/common.sh or the
# script's own).

K0S_LINE=${K0S_LINE:-1.33}
case $K0S_LINE in
1.33)
	K8S_VERSION=v1.33.13
	KINE_VERSION=v0.17.5
	# kine's own release build (scripts/build) options, less the NATS backend.
	KINE_TAGS=sqlite_unlock_notify,sqlite_vtable,sqlite_stat4,sqlite_preupdate_hook,sqlite_math_functions,sqlite_dbstat,sqlite_column_metadata
	KINE_CFLAGS="-DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DISABLE_INTRINSIC -DSQLITE_ENABLE_COLUMN_METADATA -DSQLITE_ENABLE_DBPAGE_VTAB -DSQLITE_ENABLE_DBSTAT_VTAB -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_MEMORY_MANAGEMENT -DSQLITE_ENABLE_OFFSET_SQL_FUNC -DSQLITE_ENABLE_PREUPDATE_HOOK -DSQLITE_ENABLE_RBU -DSQLITE_ENABLE_RTREE -DSQLITE_ENABLE_SESSION -DSQLITE_ENABLE_SNAPSHOT -DSQLITE_ENABLE_STAT4 -DSQLITE_ENABLE_UNLOCK_NOTIFY -DSQLITE_LIKE_DOESNT_MATCH_BLOBS -DSQLITE_THREADSAFE=1"
	LINE_CONTAINERD_VERSION=1.7.30
	# k0s: built from the module (K0S_FROM=module).
	K0S_FROM=module
	K0S_VERSION=v1.33.9-0.20260218131128-cd041608f44a
	# The Kubernetes release k0s pins (not served by the proxy): moved to K8S_VERSION.
	K0S_K8S_VERSION=v1.33.8
	# What `k0s version` reports: the k0s release line this commit belongs
	# to, marked as built against a different Kubernetes patch release.
	K0S_VERSION_STRING=v1.33.9-dev+k0s.edgeimg
	K0S_RUNC_VERSION=1.2.8
	;;
1.36)
	K8S_VERSION=v1.36.3
	KINE_VERSION=v0.16.3
	# k0s's kine build (Makefile.variables: tags nats, -DSQLITE_USE_ALLOCA=1),
	# less the NATS backend, as on the 1.33 line.
	KINE_TAGS=
	KINE_CFLAGS=-DSQLITE_USE_ALLOCA=1
	LINE_CONTAINERD_VERSION=2.3.3
	# k0s: a supplied binary (K0S_FROM=binary) that reports K0S_VERSION.
	K0S_FROM=binary
	K0S_VERSION=v1.36.3+k0s.2
	K0S_VERSION_STRING=$K0S_VERSION
	;;
*)
	die "K0S_LINE=$K0S_LINE: unknown k0s line (want 1.33 or 1.36)"
	;;
esac

# containerd_module is the Go module of a containerd release.
containerd_module() {
	case $1 in
	1.*) echo github.com/containerd/containerd ;;
	*) echo "github.com/containerd/containerd/v${1%%.*}" ;;
	esac
}
