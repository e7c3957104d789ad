# edgeimg-device.yaml reader for the node (POSIX awk / mawk).
#
# Reads the subset of YAML that edgeimg-device.yaml uses: top-level keys
# with a scalar, a list or a mapping of scalars/lists below them (two
# levels at most), "- item" block lists, [a, b] flow lists, plain, 'single'
# and "double" quoted scalars, comments. Prints one line per value:
#
#   hostname=edge-01
#   network.mode=static
#   network.dns[]=192.168.1.1
#   labels.example.com/site=berlin
#
# Anything outside the subset is an error (exit status 2, message on
# stderr naming the line): the node applies nothing rather than a guess.

function fail(msg) {
	printf "edgeimg-device.yaml:%d: %s\n", NR, msg > "/dev/stderr"
	failed = 1
	exit 2
}

function trim(s) {
	sub(/^[ ]+/, "", s)
	sub(/[ ]+$/, "", s)
	return s
}

# scalar returns the value of a scalar, unquoting it and dropping a
# trailing comment.
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
					fail("unsupported escape \\" c " in a double-quoted value")
				out = out c
			} else if (q == "'" && c == "'" && substr(v, i + 1, 1) == "'") {
				out = out "'"
				i++
			} else if (c == q) {
				rest = trim(substr(v, i + 1))
				if (rest != "" && substr(rest, 1, 1) != "#")
					fail("unexpected text after a quoted value: " rest)
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
	if (v ~ /^[{&*!|>%@`]/)
		fail("unsupported YAML syntax: " v)
	if (v == "~" || v == "null")
		return ""
	return v
}

function emit(path, value) {
	print path "=" value
}

# flow emits the items of a [a, b] flow list.
function flow(path, v,    inner, n, parts, k, item) {
	v = trim(v)
	i = index(v, " #")
	if (substr(v, length(v), 1) != "]") {
		if (i > 0)
			v = trim(substr(v, 1, i - 1))
		if (substr(v, length(v), 1) != "]")
			fail("unterminated flow list")
	}
	inner = trim(substr(v, 2, length(v) - 2))
	if (inner == "")
		return
	n = split(inner, parts, ",")
	for (k = 1; k <= n; k++) {
		item = scalar(parts[k])
		if (item == "")
			fail("empty item in a flow list")
		emit(path "[]", item)
	}
}

# key splits "key: value" into key (returned) and kv_value; it fails on a
# line that is not a mapping entry.
function key(s,    i, k) {
	i = index(s, ": ")
	if (i == 0) {
		if (substr(s, length(s), 1) == ":") {
			kv_value = ""
			k = substr(s, 1, length(s) - 1)
		} else {
			fail("expected 'key: value' or '- item'")
		}
	} else {
		k = substr(s, 1, i - 1)
		kv_value = substr(s, i + 2)
	}
	k = trim(k)
	if (k ~ /^["']/)
		k = scalar(k)
	if (k !~ /^[A-Za-z0-9][A-Za-z0-9._\/-]*$/)
		fail("unsupported key: " k)
	return k
}

BEGIN {
	top = ""       # current top-level key with a block below it
	sub1 = ""      # current second-level key with a block (list) below it
	subIndent = -1 # indent of the second level
	listPath = ""  # path list items go to
	listIndent = -1
}

{
	line = $0
	sub(/\r$/, "", line)
	if (line ~ /^[ ]*(#.*)?$/)
		next
	if (line ~ /^\t/ || line ~ /^ *\t/)
		fail("tabs are not allowed for indentation")
	if (line == "---" && NR == 1)
		next
	match(line, /^ */)
	indent = RLENGTH
	text = substr(line, indent + 1)

	if (substr(text, 1, 2) == "- " || text == "-") {
		if (listPath == "" || indent < listIndent)
			fail("list item outside a list")
		item = scalar(substr(text, 2))
		if (item == "")
			fail("empty list item")
		emit(listPath "[]", item)
		next
	}

	k = key(text)
	v = trim(kv_value)
	if (indent == 0) {
		top = k; sub1 = ""; subIndent = -1; listPath = ""
		if (v == "") {
			listPath = k
			listIndent = 0
		} else if (substr(v, 1, 1) == "[") {
			flow(k, v)
			top = ""
		} else {
			emit(k, scalar(v))
			top = ""
		}
		next
	}
	if (top == "")
		fail("indented entry without a parent key")
	if (subIndent < 0)
		subIndent = indent
	if (indent != subIndent)
		fail("nesting deeper than two levels is not supported")
	path = top "." k
	listPath = ""
	if (v == "") {
		listPath = path
		listIndent = indent
	} else if (substr(v, 1, 1) == "[") {
		flow(path, v)
	} else {
		emit(path, scalar(v))
	}
}
