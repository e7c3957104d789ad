#!/usr/bin/env bash
# fuzz.sh runs every Go fuzz target of the module for a bounded time, one
# after the other (go test -fuzz takes one target of one package at a time).
# Targets are found by their declaration (`func FuzzX(` in a _test.go
# file), so a new target is run without being listed here.
#
# Usage: FUZZTIME=20s FUZZ='Decode|Set' hack/fuzz.sh
#
#   FUZZTIME  how long each target runs (default 20s; any go test -fuzztime)
#   FUZZ      regular expression picking targets by name (default: all)
#
# Each target starts from its seed corpus (f.Add and testdata/fuzz/<Name>);
# an input that fails is written to testdata/fuzz/<Name>/ by go test and the
# script fails: check the file in with the fix, as a regression case. The
# last line per target is its throughput (execs/s), collected at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime=${FUZZTIME:-20s}
pick=${FUZZ:-.}
summary=()
status=0
while IFS= read -r file; do
	dir=$(dirname "$file")
	while IFS= read -r name; do
		[[ $name =~ $pick ]] || continue
		echo "== $name (./$dir, $fuzztime)"
		log=$(mktemp)
		if go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "./$dir" 2>&1 | tee "$log"; then
			result=ok
		else
			result=FAIL
			status=1
		fi
		# the last progress line, "fuzz: elapsed: 1m0s, execs: 425214 (7087/sec), ...",
		# gives the average rate: execs / elapsed
		execs=$(awk '/^fuzz: elapsed: .*, execs: /{line=$0} END {
			if (line == "") exit
			split(line, f, /[ ,]+/); el = f[3]; n = f[5]; s = 0
			while (match(el, /^[0-9.]+[hms]/)) {
				v = substr(el, 1, RLENGTH - 1); u = substr(el, RLENGTH, 1)
				s += v * (u == "h" ? 3600 : u == "m" ? 60 : 1); el = substr(el, RLENGTH + 1)
			}
			printf "%d execs in %ss: %d execs/s", n, s, (s > 0 ? n / s : 0)
		}' "$log")
		rm -f "$log"
		summary+=("$(printf '%-18s %-4s %s' "$name" "$result" "${execs:-no progress line}")")
	done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file")
done < <(grep -rl --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*(' cmd pkg internal 2>/dev/null | sort)
if ((${#summary[@]} == 0)); then
	echo "fuzz.sh: no fuzz target matches FUZZ=$pick" >&2
	exit 1
fi
echo "== fuzz summary (FUZZTIME=$fuzztime)"
printf '%s\n' "${summary[@]}"
exit "$status"
