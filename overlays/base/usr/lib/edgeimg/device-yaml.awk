# edgeimg-device.yaml reader for the node (POSIX awk: mawk, busybox awk).
# Run with LC_ALL=C on a file already checked to be printable ASCII.
#
# Reads a strict subset of YAML, the same as the Go reader
# (pkg/image/device/reader.go, kept in step by TestNodeAgreesWithGo):
# top-level keys with a scalar, a flow list or a block below them (two
# levels at most); "- item" block lists; [a, b] flow lists; plain, 'single'
# and "double" quoted scalars (escapes \\ and \" only); comments. Every file
# it accepts means the same as YAML says. It prints one line per non-empty
# value, in file order:
#
#   hostname=edge-01
#   network.mode=static
#   network.dns[]=192.168.1.1
#   labels.example.com/site=berlin
#
# Anything outside the subset is an error (exit status 2, one message on
# stderr naming the line): the node applies nothing rather than a guess.
# Values are printed as data; nothing here or downstream evaluates them.

function fail(msg) {
	printf "edgeimg-device.yaml:%d: %s\n", NR, msg > "/dev/stderr"
	failed = 1
	exit 2
}

function trim(s) {
	sub(/^ +/, "", s)
	sub(/ +$/, "", s)
	return s
}

# scalar returns the value of a scalar: unquoted, a trailing comment
# dropped, "" for null.
function scalar(v,    q, out, i, c, rest) {
	v = trim(v)
	if (v == "")
		return ""
	q = substr(v, 1, 1)
	if (q == "\"" || q == "'") {
		out = ""
		i = 2
		while (i <= length(v)) {
			c = substr(v, i, 1)
			if (q == "\"" && c == "\\") {
				i++
				c = substr(v, i, 1)
				if (c != "\\" && c != "\"")
					fail("unsupported escape in a double-quoted value: expected only \\\\ or \\\"")
				out = out c
			} else if (q == "'" && c == "'" && substr(v, i + 1, 1) == "'") {
				out = out "'"
				i++
			} else if (c == q) {
				rest = substr(v, i + 1)
				if (rest != "" && rest !~ /^ +#/)
					fail("unexpected text after a quoted value")
				return out
			} else {
				out = out c
			}
			i++
		}
		fail("unterminated quoted value")
	}
	i = index(v, " #")
	if (i > 0)
		v = trim(substr(v, 1, i - 1))
	if (v ~ /^[-?:,\[\]{}#&*!|>%@`]/)
		fail("unsupported YAML syntax (quote the value)")
	if (index(v, ": ") > 0 || v ~ /:$/)
		fail("a plain value cannot hold ': ' or end with ':' (quote it)")
	if (v == "~" || v == "null" || v == "Null" || v == "NULL")
		return ""
	return v
}

function emit(path, value) {
	if (value != "")
		print path "=" value
}

# flow emits the items of a [a, b] flow list.
function flow(path, v,    j, rest, inner, n, parts, k, item) {
	j = index(v, "]")
	if (j == 0)
		fail("unterminated flow list")
	rest = substr(v, j + 1)
	if (rest != "" && rest !~ /^ +#/)
		fail("unexpected text after a flow list")
	inner = substr(v, 2, j - 2)
	if (inner ~ /[\[{}#]/)
		fail("nested collections or comments inside a flow list are not supported")
	if (trim(inner) == "")
		return
	n = split(inner, parts, ",")
	for (k = 1; k <= n; k++) {
		item = trim(parts[k])
		if (item !~ /^["']/ && item ~ /[?:]/)
			fail("a plain value in a flow list cannot hold '?' or ':' (quote it)")
		item = scalar(parts[k])
		if (item == "")
			fail("empty item in a flow list")
		emit(path "[]", item)
	}
}

# key splits "key: value" into the key (returned) and kv_value.
function key(s,    i, k) {
	i = index(s, ": ")
	if (i == 0) {
		if (s !~ /:$/)
			fail("expected 'key: value' or '- item'")
		kv_value = ""
		k = substr(s, 1, length(s) - 1)
	} else {
		k = substr(s, 1, i - 1)
		kv_value = substr(s, i + 2)
	}
	if (length(k) > 512) # YAML allows at most 1024 for a key on one line
		fail("key longer than 512 characters")
	if (k !~ /^[A-Za-z0-9][-A-Za-z0-9._\/]*$/)
		fail("unsupported key (expected letters, digits and . _ / -, unquoted)")
	return k
}

# value handles the value of the entry at path: a block below it, a flow
# list or a scalar.
function value(path, v, indent) {
	v = trim(v)
	if (substr(v, 1, 1) == "#")
		v = ""
	if (seen[path]++)
		fail("duplicate key " path)
	listPath = ""
	itemIndent = -1
	if (v == "") {
		listPath = path
		listIndent = indent
		return 1
	}
	if (substr(v, 1, 1) == "[")
		flow(path, v)
	else
		emit(path, scalar(v))
	return 0
}

BEGIN {
	top = ""        # top-level key whose block is being read
	subIndent = -1  # indent of that block's entries
	listPath = ""   # path list items go to
	listIndent = -1 # indent of the key owning the list
	itemIndent = -1 # indent of its first item
	listTop = 0     # the list belongs to a top-level key
}

{
	line = $0
	if (line ~ /^ *(#.*)?$/)
		next
	if (line == "---" && NR == 1)
		next
	match(line, /^ */)
	indent = RLENGTH
	text = substr(line, indent + 1)

	if (substr(text, 1, 2) == "- " || text == "-") {
		if (listPath == "" || indent < listIndent)
			fail("list item outside a list")
		if (itemIndent < 0)
			itemIndent = indent
		if (indent != itemIndent)
			fail("list items do not line up")
		if (listTop)
			top = ""
		item = scalar(substr(text, 2))
		if (item == "")
			fail("empty list item")
		emit(listPath "[]", item)
		next
	}

	k = key(text)
	if (indent == 0) {
		top = ""
		subIndent = -1
		if (value(k, kv_value, 0))
			top = k
		listTop = 1
		next
	}
	if (top == "")
		fail("indented entry without a parent key")
	if (subIndent < 0)
		subIndent = indent
	if (indent != subIndent)
		fail("nesting deeper than two levels or uneven indentation is not supported")
	value(top "." k, kv_value, indent)
	listTop = 0
}
