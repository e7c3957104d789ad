# edgeimg-device.yaml checker for the node (POSIX awk: mawk, busybox awk).
#
#   awk -f device-check.awk /usr/lib/edgeimg/device-rules FLAT
#
# FLAT is what device-yaml.awk printed. The rules file is rendered at build
# time from pkg/image/device/rules.go, the one definition the Go validator
# ('edgeimg device-config') applies too; this file follows its checks
# (pkg/image/device/check.go) step by step, with the same messages
# (TestNodeAgreesWithGo). Prints one line per rejected setting and exits 1
# when there is any; prints nothing and exits 0 when every value passes.
# Run with LC_ALL=C.

function add(field, msg) {
	print field ": " msg
	nerr++
}

function ipv4(s,    n, p, k, v) {
	if (s !~ /^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$/)
		return -1
	split(s, p, ".")
	v = 0
	for (k = 1; k <= 4; k++) {
		if (length(p[k]) > 3 || (length(p[k]) > 1 && substr(p[k], 1, 1) == "0"))
			return -1
		if (p[k] + 0 > 255)
			return -1
		v = v * 256 + p[k]
	}
	return v
}

# ipv4prefix sets pfx_addr and pfx_bits; it returns 0 when s is not one.
function ipv4prefix(s,    i, a, b) {
	i = index(s, "/")
	if (i == 0)
		return 0
	a = substr(s, 1, i - 1)
	b = substr(s, i + 1)
	if (b !~ /^(0|[1-9][0-9]?)$/)
		return 0
	pfx_addr = ipv4(a)
	pfx_bits = b + 0
	return pfx_addr >= 0 && pfx_bits <= 32
}

function pow2(n,    v) {
	v = 1
	while (n-- > 0)
		v *= 2
	return v
}

function mod(a, m) { return a - m * int(a / m) }

# ipv4pool sets pool_from and pool_to; it returns "" or why s is not one.
function ipv4pool(s,    i, a, b, size) {
	i = index(s, "-")
	if (i > 0) {
		a = ipv4(substr(s, 1, i - 1))
		b = ipv4(substr(s, i + 1))
		if (a < 0 || b < 0)
			return "not a range of two IPv4 addresses"
		if (b < a)
			return "the range ends before it starts"
		pool_from = a; pool_to = b
		return ""
	}
	if (index(s, "/") > 0) {
		if (!ipv4prefix(s) || pfx_bits < 1)
			return "not an IPv4 CIDR"
		size = pow2(32 - pfx_bits)
		if (mod(pfx_addr, size) != 0)
			return "host bits set in the CIDR"
		pool_from = pfx_addr; pool_to = pfx_addr + size - 1
		return ""
	}
	a = ipv4(s)
	if (a < 0)
		return "not an IPv4 address"
	pool_from = a; pool_to = a
	return ""
}

function ok(part, v) {
	return length(v) <= rmaxlen[part] && v ~ rpattern[part]
}

function labelkey(name, k,    i, prefix, kname, slash) {
	i = index(k, "/")
	slash = i > 0
	if (slash) {
		prefix = substr(k, 1, i - 1)
		kname = substr(k, i + 1)
	} else {
		prefix = ""
		kname = k
	}
	if (index(kname, "/") > 0)
		add(name, "not a label key: expected [prefix/]name with one '/'")
	else if (slash && !ok("labels.*/key-prefix", prefix))
		add(name, "not a label key: expected " rwant["labels.*/key-prefix"])
	else if (!ok("labels.*/key-name", kname))
		add(name, "not a label key: expected " rwant["labels.*/key-name"])
}

function bad(why) { add(name, "\"" value "\": " why) }

BEGIN { FS = "\t" }

# The rules: field, part, check, maxitems, maxlen, pattern, want.
FNR == NR {
	if ($0 ~ /^#/ || $0 == "")
		next
	id = $1
	if ($2 != "")
		id = $1 "/" $2
	else
		isrule[$1] = 1
	rcheck[id] = $3; rmaxitems[id] = $4 + 0; rmaxlen[id] = $5 + 0
	rpattern[id] = $6; rwant[id] = $7
	next
}

{
	i = index($0, "=")
	path = substr($0, 1, i - 1)
	value = substr($0, i + 1)
	field = path; name = path
	base = path
	islist = path ~ /\[\]$/
	if (islist) {
		base = substr(path, 1, length(path) - 2)
		name = base "[" (count[path] + 0) "]"
	} else if (substr(path, 1, 7) == "labels.") {
		field = "labels.*"
	}
	if (path == "network.mode") mode = value
	if (path == "network.address") address = value
	if (path == "network.gateway") gateway = value
	count[field]++
	if (!(field in isrule)) {
		if ((path "[]") in isrule)
			add(path, "expected a list")
		else if (islist && (base in isrule)) {
			if (count[field] == 1)
				add(base, "expected one value, not a list")
		} else if (count[field] == 1)
			add(base, "not a setting of edgeimg-device.yaml (expected hostname, network, ssh, metallb or labels and their keys)")
		next
	}
	if (rmaxitems[field] > 0 && count[field] > rmaxitems[field]) {
		if (count[field] == rmaxitems[field] + 1) {
			f = field
			sub(/\[\]$/, "", f)
			add(f, "more than " rmaxitems[field] " entries")
		}
		next
	}
	if (field == "labels.*")
		labelkey(name, substr(path, 8))
	if (length(value) > rmaxlen[field]) {
		add(name, "longer than " rmaxlen[field] " characters: expected " rwant[field])
		next
	}
	want = "expected " rwant[field]
	check = rcheck[field]
	if (check == "re") {
		if (value !~ rpattern[field])
			bad(want)
		next
	}
	if (index(value, ":") > 0) {
		bad("IPv6 is not supported on the device (IPv4 only)")
		next
	}
	if (check == "ipv4") {
		if (ipv4(value) < 0)
			bad(want)
	} else if (check == "ipv4-host") {
		if (!ipv4prefix(value) || pfx_bits < 1) {
			bad(want)
			next
		}
		size = pow2(32 - pfx_bits)
		net = pfx_addr - mod(pfx_addr, size)
		if (pfx_bits < 31 && (pfx_addr == net || pfx_addr == net + size - 1)) {
			bad("the network or broadcast address of its network: " want)
			next
		}
		addr_net = net; addr_size = size
	} else if (check == "ipv4-gateway") {
		gw = ipv4(value)
		if (gw < 0)
			bad(want)
		else
			gw_ok = 1
	} else if (check == "ipv4-pool") {
		why = ipv4pool(value)
		if (why != "") {
			bad(why ": expected " rwant[field])
			next
		}
		for (k = 1; k <= npools; k++)
			if (pool_from <= pto[k] && pfrom[k] <= pool_to)
				bad("overlaps " pname[k] " \"" ptext[k] "\": expected disjoint ranges")
		npools++
		pfrom[npools] = pool_from; pto[npools] = pool_to
		pname[npools] = name; ptext[npools] = value
	}
}

END {
	if (mode == "static" && address == "")
		add("network.address", "missing: network.mode static needs the device's address")
	else if (mode != "static" && (address != "" || gateway != ""))
		add("network.mode", "network.address and network.gateway need mode: static")
	if (addr_size > 0 && gw_ok && (gw < addr_net || gw >= addr_net + addr_size))
		add("network.gateway", "\"" gateway "\": not in the network of network.address " address)
	exit (nerr > 0)
}
