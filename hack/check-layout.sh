#!/usr/bin/env bash
# check-layout.sh: the README's layout table lists every Go package of the
# module, and nothing that is not one; the test harness (internal/testkit)
# is imported by tests only, and the other internal/ packages import nothing
# of pkg/ or cmd/. Exits 1 naming what differs.
set -euo pipefail
cd "$(dirname "$0")/.."

mapfile -t pkgs < <(go list -f '{{.Dir}}' ./... | sed "s|^$PWD/||" | sort)
# The table is the fenced block after "## Layout"; its first column names
# directories (a "a/ b/" cell names several).
mapfile -t listed < <(awk '/^## Layout/{on=1} on&&/^```/{n++; next} on&&n==1{print}' README.md |
	awk '{print $1}' | sed 's|/$||' | sort)

status=0
for p in "${pkgs[@]}"; do
	case " ${listed[*]} " in *" $p "*) ;; *)
		# "boards/ overlays/" lists two directories in one cell.
		if ! awk '/^## Layout/{on=1} on' README.md | grep -qE "(^| )$p/( |$)"; then
			echo "check-layout: package $p is not in the README's layout table" >&2
			status=1
		fi
		;;
	esac
done
for l in "${listed[@]}"; do
	[[ -d $l ]] || { echo "check-layout: the README's layout table lists $l, which does not exist" >&2; status=1; }
done

# The test harness (internal/testkit/...) sits above pkg/ and only tests
# import it; the other internal/ packages sit below pkg/ and import none of it.
mod=$(go list -m)
while read -r pkg imports; do
	case $pkg in
	"$mod"/internal/testkit | "$mod"/internal/testkit/* | "$mod"/test/*) continue ;;
	"$mod"/internal/*) bad=$(tr ' ' '\n' <<<"$imports" | grep -E "^$mod/(pkg|cmd)/|^$mod/internal/testkit" || true) ;;
	*) bad=$(tr ' ' '\n' <<<"$imports" | grep -E "^$mod/internal/testkit" || true) ;;
	esac
	if [[ -n $bad ]]; then
		echo "check-layout: ${pkg#"$mod"/} imports ${bad//$'\n'/ } (the harness is for tests; internal/ helpers sit below pkg/)" >&2
		status=1
	fi
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
exit $status
