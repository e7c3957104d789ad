#!/bin/sh
# apply-site (edgeimg): make the node's MetalLB pool, the address Kourier's
# LoadBalancer is pinned to and the Knative domain derived from it follow
# the per-device MetalLB addresses (EDGEIMG_METALLB_ADDRESSES in
# /etc/edgeimg/device.env, written by edgeimg-device.service from
# edgeimg-device.yaml). Run before k0s starts; does nothing when the device
# sets no addresses or they are already in place.
#
# /etc/edgeimg/site.env (written at build time) names the files and the
# values the image was built with:
#   EDGEIMG_SITE_POOL_FILE     staged stack file holding the IPAddressPool
#   EDGEIMG_SITE_KOURIER_FILE  live stack file holding Service kourier
#   EDGEIMG_SITE_DOMAIN_FILE   live stack file holding config-domain
#   EDGEIMG_SITE_LB_ADDRESS    the pinned Kourier address
#   EDGEIMG_SITE_DOMAIN_FROM_LB 1 when the domain is <address>.sslip.io
set -eu
set -f # values are never patterns

SITE_ENV="${EDGEIMG_SITE_ENV:-/etc/edgeimg/site.env}"
DEVICE_ENV="${EDGEIMG_DEVICE_ENV:-/etc/edgeimg/device.env}"
STATE="${EDGEIMG_STATE_DIR:-/var/lib/edgeimg}"
log() { printf 'apply-site: %s\n' "$*"; }

# env_get FILE NAME: the value of NAME=... in FILE (the last one), read as
# data: the file is never sourced, so nothing in it expands or runs. One
# pair of surrounding double quotes is removed. Kept identical in
# pkg/bundle/apply-site.sh and promote-staged.sh (TestEnvGetOneDefinition).
env_get() {
	sed -n "s/^$2=//p" "$1" 2>/dev/null | tail -n 1 | sed 's/^"\(.*\)"$/\1/'
}

[ -f "$SITE_ENV" ] || { log "no $SITE_ENV: nothing to apply"; exit 0; }
EDGEIMG_SITE_POOL_FILE=$(env_get "$SITE_ENV" EDGEIMG_SITE_POOL_FILE)
EDGEIMG_SITE_KOURIER_FILE=$(env_get "$SITE_ENV" EDGEIMG_SITE_KOURIER_FILE)
EDGEIMG_SITE_DOMAIN_FILE=$(env_get "$SITE_ENV" EDGEIMG_SITE_DOMAIN_FILE)
EDGEIMG_SITE_LB_ADDRESS=$(env_get "$SITE_ENV" EDGEIMG_SITE_LB_ADDRESS)
EDGEIMG_SITE_DOMAIN_FROM_LB=$(env_get "$SITE_ENV" EDGEIMG_SITE_DOMAIN_FROM_LB)
# One pool entry per word; an entry is digits, '.', '/' and '-' only
# (edgeimg-device.service checked them; this refuses anything else).
want=""
for e in $(env_get "$DEVICE_ENV" EDGEIMG_METALLB_ADDRESSES | tr ',' ' '); do
	case $e in
	*[!0-9./-]*)
		log "refusing MetalLB address '$e' from $DEVICE_ENV: expected an IPv4 CIDR, range or address"
		exit 1
		;;
	esac
	want="${want:+$want }$e"
done
[ -n "$want" ] || { log "no MetalLB addresses set for this device"; exit 0; }

# first_usable ENTRY: the address MetalLB hands out first from a pool
# entry, as edgeimg pins it: a range's start, one address, or a CIDR's
# network address + 1 (IPv4 prefixes shorter than /32; IPv6 keeps the
# network address).
first_usable() {
	case $1 in
	*-*) echo "${1%%-*}" ;;
	*:*/*) echo "${1%%/*}" ;;
	*/*)
		echo "$1" | awk -F'[./]' '{
			n = (($1 * 256 + $2) * 256 + $3) * 256 + $4
			if ($5 < 32) n++
			printf "%d.%d.%d.%d\n", int(n / 16777216) % 256, int(n / 65536) % 256, int(n / 256) % 256, n % 256
		}' ;;
	*) echo "$1" ;;
	esac
}

# replace FILE OLD NEW: swap the literal address OLD for NEW (atomically).
replace() {
	old=$(printf '%s' "$2" | sed 's/[.[\*^$/]/\\&/g')
	sed "s/\\([^0-9A-Fa-f:.]\\)$old\\([^0-9A-Za-z.]\\|$\\)/\\1$3\\2/g" "$1" > "$1.edgeimg-tmp"
	mv -f "$1.edgeimg-tmp" "$1"
}

# write_pool FILE ADDRESSES...: rewrite the addresses list of the
# IPAddressPool (the block under "  addresses:" of the first document).
write_pool() {
	file=$1
	shift
	awk -v list="$*" '
		BEGIN { n = split(list, a, " ") }
		skipping && /^  - / { next }
		{ skipping = 0 }
		doc == 0 && /^  addresses:$/ { print; for (i = 1; i <= n; i++) print "  - " a[i]; skipping = 1; next }
		/^---$/ { doc++ }
		{ print }
	' "$file" > "$file.edgeimg-tmp"
	mv -f "$file.edgeimg-tmp" "$file"
}

new_lb=$(first_usable "${want%% *}")
current_lb=$(cat "$STATE/site-lb-address" 2>/dev/null || echo "$EDGEIMG_SITE_LB_ADDRESS")
if [ "$new_lb" != "$current_lb" ]; then
	replace "$EDGEIMG_SITE_KOURIER_FILE" "$current_lb" "$new_lb"
	if [ "${EDGEIMG_SITE_DOMAIN_FROM_LB:-0}" = 1 ]; then
		replace "$EDGEIMG_SITE_DOMAIN_FILE" "$current_lb.sslip.io" "$new_lb.sslip.io"
	fi
	mkdir -p "$STATE"
	echo "$new_lb" > "$STATE/site-lb-address.edgeimg-tmp"
	mv -f "$STATE/site-lb-address.edgeimg-tmp" "$STATE/site-lb-address"
	log "Kourier LoadBalancer address $current_lb -> $new_lb"
fi
# shellcheck disable=SC2086 # one argument per pool entry
write_pool "$EDGEIMG_SITE_POOL_FILE" $want
log "MetalLB pool: $want"
