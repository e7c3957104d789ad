#!/usr/bin/env bash
# check-layout.sh: the README's layout table lists every Go package of the
# module, and nothing that is not one. Exits 1 naming what differs.
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
exit $status
