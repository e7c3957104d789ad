# shellcheck shell=bash
# Sourced by hack/build-bins.sh and hack/e2e-images.sh. The script sets
# prog (the prefix of its messages) and quiet (1: log says nothing) first.

log() { ((${quiet:-0})) || printf '%s: %s\n' "${prog:?}" "$*" >&2; }
die() {
	printf '%s: %s\n' "${prog:?}" "$*" >&2
	exit 1
}

# module_dir downloads module@version through the proxy and prints its
# (read-only) directory in the module cache.
module_dir() {
	local json dir
	json=$(go mod download -json "$1@$2" 2>&1) || true
	dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")
	[[ -n $dir ]] || die "go mod download $1@$2: $(sed -n 's/^[[:space:]]*"Error": "\(.*\)",\{0,1\}$/\1/p' <<<"$json")"
	echo "$dir"
}

# module_time prints the module version's publication time (RFC 3339), used
# as build date so a rebuild stamps the same bytes.
module_time() {
	go mod download -json "$1@$2" >/dev/null
	sed -n 's/.*"Time":"\([^"]*\)".*/\1/p' "$(go env GOMODCACHE)/cache/download/$1/@v/$2.info"
}
