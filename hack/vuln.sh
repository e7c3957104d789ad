#!/usr/bin/env bash
# vuln.sh runs govulncheck on edgeimg (non-test code, symbol level) against
# a vulnerability database built offline from the golang.org/x/vulndb module
# on the Go module proxy, and fails on any reachable vulnerability that has a
# fix (hack/vulngate). Reachable ones without a fix are printed; the README
# ("CI, dependencies, known vulnerabilities") says why each does not apply.
#
# govulncheck (golang.org/x/vuln), vulndb's cmd/indexdb and the database are
# built once, keyed by their pinned versions, under
#   ${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/vuln/
# Bump VULNDB_VERSION (go list -m -versions golang.org/x/vulndb shows none:
# take `go mod download -json golang.org/x/vulndb@latest`'s Version) to
# check against newer reports.
#
# The standard library is checked at the Go that runs this script: run it
# with the Go edgeimg is released with (the Makefile's RELEASE_GO).
set -euo pipefail
cd "$(dirname "$0")/.."

VULN_VERSION=v1.9.0
VULNDB_VERSION=v0.0.0-20261105234957-e22db6528018
prog=vuln
log() { printf '%s: %s\n' "$prog" "$*" >&2; }
die() { printf '%s: %s\n' "$prog" "$*" >&2; exit 1; }
command -v go >/dev/null || die "go not found"
export GONOSUMDB=${GONOSUMDB-*} GOSUMDB=${GOSUMDB-off}

gover=$(go env GOVERSION)
cache=${EDGEIMG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgeimg}/vuln
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

# module_dir prints the read-only directory of module@version in the module cache.
module_dir() {
	local dir
	dir=$(cd "$cache" && GOFLAGS='' go mod download -json "$1@$2" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
	[[ -n $dir && -d $dir ]] || die "go mod download $1@$2 gave no module directory"
	echo "$dir"
}

# Built with the Go that runs the check: govulncheck type-checks the standard
# library and modules of that Go, which an older build cannot.
govulncheck=$cache/govulncheck-$VULN_VERSION-$gover/govulncheck
if [[ ! -x $govulncheck ]]; then
	log "go install golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION"
	(cd "$cache" && GOFLAGS='' GOBIN=$(dirname "$govulncheck") go install "golang.org/x/vuln/cmd/govulncheck@$VULN_VERSION") ||
		die "go install govulncheck@$VULN_VERSION failed"
fi

db=$cache/db-$VULNDB_VERSION
if [[ ! -s $db/index/db.json ]]; then
	src=$(module_dir golang.org/x/vulndb "$VULNDB_VERSION")
	indexdb=$cache/indexdb-$VULNDB_VERSION
	if [[ ! -x $indexdb ]]; then
		log "building vulndb's cmd/indexdb ($VULNDB_VERSION; a few minutes cold)"
		(cd "$src" && GOFLAGS=-mod=readonly go build -o "$indexdb.tmp" ./cmd/indexdb) || die "go build vulndb/cmd/indexdb failed"
		mv "$indexdb.tmp" "$indexdb"
	fi
	log "indexing $(find "$src/data/osv" -name '*.json' | wc -l) OSV reports of vulndb $VULNDB_VERSION"
	rm -rf "$db.tmp"
	"$indexdb" -vulns "$src/data/osv" -out "$db.tmp" || die "indexdb failed"
	mv "$db.tmp" "$db"
fi

log "govulncheck $VULN_VERSION, $gover, database vulndb $VULNDB_VERSION"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$govulncheck" -db "file://$db" -format json ./... >"$out" || die "govulncheck failed (exit $?)"
go run ./hack/vulngate <"$out"
