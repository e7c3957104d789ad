package device

import (
	"fmt"
	"regexp"
	"strings"
)

// Entry is one value of a device file as the readers print it: Path is
// "hostname", "network.dns[]" for a list item, "labels.KEY" for a map
// entry.
type Entry struct{ Path, Value string }

// SyntaxError is a file the readers refuse to read: outside the YAML
// subset, not printable ASCII or too large. Line is 0 for the whole file.
type SyntaxError struct {
	Line int
	Msg  string
}

func (e *SyntaxError) Error() string {
	if e.Line == 0 {
		return FileName + ": " + e.Msg
	}
	return fmt.Sprintf("%s:%d: %s", FileName, e.Line, e.Msg)
}

var keyRe = regexp.MustCompile(`^[A-Za-z0-9][-A-Za-z0-9._/]*$`)

// CheckText refuses what is not a device file before it is read: more
// than MaxFileSize bytes, or a byte that is not printable ASCII or LF
// (a CR, a tab, NUL, UTF-8). The node's device-config does the same.
func CheckText(data []byte) error {
	if len(data) > MaxFileSize {
		return &SyntaxError{Msg: fmt.Sprintf("larger than %d bytes", MaxFileSize)}
	}
	line := 1
	for _, c := range data {
		if c == '\n' {
			line++
			continue
		}
		if c < ' ' || c > '~' {
			return &SyntaxError{Line: line, Msg: "not printable ASCII (a tab, CR or other control or non-ASCII character): expected plain text with LF line ends"}
		}
	}
	return nil
}

// Read reads a device file in the YAML subset both readers share (see
// device-yaml.awk, which this follows line by line) into its entries, in
// file order. Every file it accepts means the same as YAML says; the rest
// is a *SyntaxError naming the line.
func Read(data []byte) ([]Entry, error) {
	if err := CheckText(data); err != nil {
		return nil, err
	}
	r := &reader{seen: map[string]bool{}, subIndent: -1, listIndent: -1, itemIndent: -1}
	lines := strings.Split(string(data), "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	for i, line := range lines {
		r.nr = i + 1
		if err := r.line(line); err != nil {
			return nil, err
		}
	}
	return r.out, nil
}

type reader struct {
	nr         int
	out        []Entry
	seen       map[string]bool
	top        string
	subIndent  int
	listPath   string
	listIndent int
	itemIndent int
	listTop    bool
}

func (r *reader) fail(msg string) error { return &SyntaxError{Line: r.nr, Msg: msg} }

var blankRe = regexp.MustCompile(`^ *(#.*)?$`)

func (r *reader) line(line string) error {
	if blankRe.MatchString(line) || line == "---" && r.nr == 1 {
		return nil
	}
	text := strings.TrimLeft(line, " ")
	indent := len(line) - len(text)
	if strings.HasPrefix(text, "- ") || text == "-" {
		if r.listPath == "" || indent < r.listIndent {
			return r.fail("list item outside a list")
		}
		if r.itemIndent < 0 {
			r.itemIndent = indent
		}
		if indent != r.itemIndent {
			return r.fail("list items do not line up")
		}
		if r.listTop {
			r.top = ""
		}
		item, err := r.scalar(text[1:])
		if err != nil {
			return err
		}
		if item == "" {
			return r.fail("empty list item")
		}
		r.emit(r.listPath+"[]", item)
		return nil
	}
	k, v, err := r.key(text)
	if err != nil {
		return err
	}
	if indent == 0 {
		r.top, r.subIndent = "", -1
		block, err := r.value(k, v, 0)
		if err != nil {
			return err
		}
		if block {
			r.top = k
		}
		r.listTop = true
		return nil
	}
	if r.top == "" {
		return r.fail("indented entry without a parent key")
	}
	if r.subIndent < 0 {
		r.subIndent = indent
	}
	if indent != r.subIndent {
		return r.fail("nesting deeper than two levels or uneven indentation is not supported")
	}
	if _, err := r.value(r.top+"."+k, v, indent); err != nil {
		return err
	}
	r.listTop = false
	return nil
}

func (r *reader) key(s string) (k, v string, err error) {
	if i := strings.Index(s, ": "); i >= 0 {
		k, v = s[:i], s[i+2:]
	} else if strings.HasSuffix(s, ":") {
		k = s[:len(s)-1]
	} else {
		return "", "", r.fail("expected 'key: value' or '- item'")
	}
	if len(k) > 512 { // YAML allows at most 1024 for a key on one line
		return "", "", r.fail("key longer than 512 characters")
	}
	if !keyRe.MatchString(k) {
		return "", "", r.fail("unsupported key (expected letters, digits and . _ / -, unquoted)")
	}
	return k, v, nil
}

// value handles the value of the entry at path; it reports whether a
// block (a list or a mapping) may follow.
func (r *reader) value(path, v string, indent int) (bool, error) {
	v = trim(v)
	if strings.HasPrefix(v, "#") {
		v = ""
	}
	if r.seen[path] {
		return false, r.fail("duplicate key " + path)
	}
	r.seen[path] = true
	r.listPath, r.itemIndent = "", -1
	if v == "" {
		r.listPath, r.listIndent = path, indent
		return true, nil
	}
	if strings.HasPrefix(v, "[") {
		return false, r.flow(path, v)
	}
	s, err := r.scalar(v)
	if err != nil {
		return false, err
	}
	r.emit(path, s)
	return false, nil
}

func (r *reader) emit(path, value string) {
	if value != "" {
		r.out = append(r.out, Entry{path, value})
	}
}

func trim(s string) string { return strings.Trim(s, " ") }

var trailingComment = regexp.MustCompile(`^ +#`)

func (r *reader) flow(path, v string) error {
	j := strings.IndexByte(v, ']')
	if j < 0 {
		return r.fail("unterminated flow list")
	}
	if rest := v[j+1:]; rest != "" && !trailingComment.MatchString(rest) {
		return r.fail("unexpected text after a flow list")
	}
	inner := v[1:j]
	if strings.ContainsAny(inner, "[{}#") {
		return r.fail("nested collections or comments inside a flow list are not supported")
	}
	if trim(inner) == "" {
		return nil
	}
	for _, part := range strings.Split(inner, ",") {
		if p := trim(part); p != "" && p[0] != '"' && p[0] != '\'' && strings.ContainsAny(p, "?:") {
			return r.fail("a plain value in a flow list cannot hold '?' or ':' (quote it)")
		}
		item, err := r.scalar(part)
		if err != nil {
			return err
		}
		if item == "" {
			return r.fail("empty item in a flow list")
		}
		r.emit(path+"[]", item)
	}
	return nil
}

func (r *reader) scalar(v string) (string, error) {
	v = trim(v)
	if v == "" {
		return "", nil
	}
	if q := v[0]; q == '"' || q == '\'' {
		var out strings.Builder
		for i := 1; i < len(v); i++ {
			c := v[i]
			switch {
			case q == '"' && c == '\\':
				i++
				if i >= len(v) || v[i] != '\\' && v[i] != '"' {
					return "", r.fail(`unsupported escape in a double-quoted value: expected only \\ or \"`)
				}
				out.WriteByte(v[i])
			case q == '\'' && c == '\'' && i+1 < len(v) && v[i+1] == '\'':
				out.WriteByte('\'')
				i++
			case c == q:
				if rest := v[i+1:]; rest != "" && !trailingComment.MatchString(rest) {
					return "", r.fail("unexpected text after a quoted value")
				}
				return out.String(), nil
			default:
				out.WriteByte(c)
			}
		}
		return "", r.fail("unterminated quoted value")
	}
	if i := strings.Index(v, " #"); i >= 0 {
		v = trim(v[:i])
	}
	if v != "" && strings.IndexByte("-?:,[]{}#&*!|>%@`", v[0]) >= 0 {
		return "", r.fail("unsupported YAML syntax (quote the value)")
	}
	if strings.Contains(v, ": ") || strings.HasSuffix(v, ":") {
		return "", r.fail("a plain value cannot hold ': ' or end with ':' (quote it)")
	}
	switch v {
	case "~", "null", "Null", "NULL":
		return "", nil
	}
	return v, nil
}
