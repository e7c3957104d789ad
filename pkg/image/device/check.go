package device

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// FieldError is one rejected setting. Error() is the line both the Go
// validator and the node's checker (device-check.awk) print for it.
type FieldError struct {
	Field string // "hostname", "network.dns[1]", "labels.KEY"
	Msg   string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Msg }

// Check applies Rules to the entries of a device file and returns every
// rejected setting, in the order device-check.awk reports them.
func Check(entries []Entry) []*FieldError {
	c := checker{rules: map[string]*Rule{}, parts: map[string]*Rule{}, count: map[string]int{}, res: map[string]*regexp.Regexp{}}
	for i := range Rules {
		r := &Rules[i]
		if r.Part == "" {
			c.rules[r.Field] = r
		} else {
			c.parts[r.Part] = r
		}
	}
	for _, e := range entries {
		c.entry(e.Path, e.Value)
	}
	c.cross()
	return c.errs
}

type checker struct {
	rules, parts map[string]*Rule
	count        map[string]int
	errs         []*FieldError

	mode, address, gateway string
	addrNet, addrSize      float64 // network.address's network, when valid
	gw                     float64 // network.gateway, when valid
	gwOK                   bool
	res                    map[string]*regexp.Regexp
	pools                  []pool // valid metallb.addresses
}

type pool struct {
	from, to float64
	name     string
	text     string
}

func (c *checker) re(pattern string) *regexp.Regexp {
	re := c.res[pattern]
	if re == nil {
		re = regexp.MustCompile(pattern)
		c.res[pattern] = re
	}
	return re
}

func (c *checker) add(field, msg string) { c.errs = append(c.errs, &FieldError{field, msg}) }

func (c *checker) entry(path, value string) {
	field, name := path, path
	if strings.HasSuffix(path, "[]") {
		base := strings.TrimSuffix(path, "[]")
		name = fmt.Sprintf("%s[%d]", base, c.count[path])
	} else if strings.HasPrefix(path, "labels.") {
		field = "labels.*"
	}
	switch path {
	case "network.mode":
		c.mode = value
	case "network.address":
		c.address = value
	case "network.gateway":
		c.gateway = value
	}
	c.count[field]++
	r := c.rules[field]
	switch {
	case r == nil && c.rules[path+"[]"] != nil:
		c.add(path, "expected a list")
		return
	case r == nil && strings.HasSuffix(path, "[]") && c.rules[strings.TrimSuffix(path, "[]")] != nil:
		if c.count[field] == 1 {
			c.add(strings.TrimSuffix(path, "[]"), "expected one value, not a list")
		}
		return
	case r == nil:
		if c.count[field] == 1 {
			c.add(strings.TrimSuffix(path, "[]"), "not a setting of "+FileName+" (expected hostname, network, ssh, metallb or labels and their keys)")
		}
		return
	}
	if r.MaxItems > 0 && c.count[field] > r.MaxItems {
		if c.count[field] == r.MaxItems+1 {
			c.add(strings.TrimSuffix(field, "[]"), fmt.Sprintf("more than %d entries", r.MaxItems))
		}
		return
	}
	if field == "labels.*" {
		c.labelKey(name, strings.TrimPrefix(path, "labels."))
	}
	if len(value) > r.MaxLen {
		c.add(name, fmt.Sprintf("longer than %d characters: expected %s", r.MaxLen, r.Want))
		return
	}
	bad := func(why string) { c.add(name, `"`+value+`": `+why) }
	want := "expected " + r.Want
	switch r.Check {
	case "re":
		if !c.re(r.Pattern).MatchString(value) {
			bad(want)
		}
	case "ipv4":
		if ipv6(value, bad) {
			return
		}
		if _, ok := ipv4(value); !ok {
			bad(want)
		}
	case "ipv4-host":
		if ipv6(value, bad) {
			return
		}
		a, bits, ok := ipv4Prefix(value)
		if !ok || bits < 1 {
			bad(want)
			return
		}
		size := pow2(32 - bits)
		net := a - mod(a, size)
		if bits < 31 && (a == net || a == net+size-1) {
			bad("the network or broadcast address of its network: " + want)
			return
		}
		c.addrNet, c.addrSize = net, size
	case "ipv4-gateway":
		if ipv6(value, bad) {
			return
		}
		if a, ok := ipv4(value); ok {
			c.gw, c.gwOK = a, true
		} else {
			bad(want)
		}
	case "ipv4-pool":
		if ipv6(value, bad) {
			return
		}
		p, why := ipv4Pool(value)
		if why != "" {
			bad(why + ": expected " + r.Want)
			return
		}
		p.name, p.text = name, value
		for _, o := range c.pools {
			if p.from <= o.to && o.from <= p.to {
				bad("overlaps " + o.name + ` "` + o.text + `": expected disjoint ranges`)
			}
		}
		c.pools = append(c.pools, p)
	}
}

func (c *checker) labelKey(name, key string) {
	prefix, kname, ok := strings.Cut(key, "/")
	if !ok {
		prefix, kname = "", key
	}
	check := func(r *Rule, v string) bool {
		return len(v) <= r.MaxLen && c.re(r.Pattern).MatchString(v)
	}
	switch {
	case strings.Contains(kname, "/"):
		c.add(name, "not a label key: expected [prefix/]name with one '/'")
	case ok && !check(c.parts["key-prefix"], prefix):
		c.add(name, "not a label key: expected "+c.parts["key-prefix"].Want)
	case !check(c.parts["key-name"], kname):
		c.add(name, "not a label key: expected "+c.parts["key-name"].Want)
	}
}

// cross checks the settings that depend on each other.
func (c *checker) cross() {
	switch {
	case c.mode == "static" && c.address == "":
		c.add("network.address", "missing: network.mode static needs the device's address")
	case c.mode != "static" && (c.address != "" || c.gateway != ""):
		c.add("network.mode", "network.address and network.gateway need mode: static")
	}
	if c.addrSize > 0 && c.gwOK && (c.gw < c.addrNet || c.gw >= c.addrNet+c.addrSize) {
		c.add("network.gateway", `"`+c.gateway+`": not in the network of network.address `+c.address)
	}
}

func ipv6(v string, bad func(string)) bool {
	if strings.Contains(v, ":") {
		bad("IPv6 is not supported on the device (IPv4 only)")
		return true
	}
	return false
}

var ipv4Re = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`)

// ipv4 parses a dotted quad (no leading zeros) into a number, the way
// device-check.awk does.
func ipv4(s string) (float64, bool) {
	if !ipv4Re.MatchString(s) {
		return 0, false
	}
	var n float64
	for _, p := range strings.Split(s, ".") {
		if len(p) > 3 || len(p) > 1 && p[0] == '0' {
			return 0, false
		}
		v, _ := strconv.Atoi(p)
		if v > 255 {
			return 0, false
		}
		n = n*256 + float64(v)
	}
	return n, true
}

var bitsRe = regexp.MustCompile(`^(0|[1-9][0-9]?)$`)

func ipv4Prefix(s string) (float64, int, bool) {
	a, b, ok := strings.Cut(s, "/")
	if !ok || !bitsRe.MatchString(b) {
		return 0, 0, false
	}
	n, ok := ipv4(a)
	bits, _ := strconv.Atoi(b)
	if !ok || bits > 32 {
		return 0, 0, false
	}
	return n, bits, true
}

func ipv4Pool(s string) (pool, string) {
	if a, b, ok := strings.Cut(s, "-"); ok {
		from, ok1 := ipv4(a)
		to, ok2 := ipv4(b)
		switch {
		case !ok1 || !ok2:
			return pool{}, "not a range of two IPv4 addresses"
		case to < from:
			return pool{}, "the range ends before it starts"
		}
		return pool{from: from, to: to}, ""
	}
	if strings.Contains(s, "/") {
		a, bits, ok := ipv4Prefix(s)
		if !ok || bits < 1 {
			return pool{}, "not an IPv4 CIDR"
		}
		size := pow2(32 - bits)
		if mod(a, size) != 0 {
			return pool{}, "host bits set in the CIDR"
		}
		return pool{from: a, to: a + size - 1}, ""
	}
	a, ok := ipv4(s)
	if !ok {
		return pool{}, "not an IPv4 address"
	}
	return pool{from: a, to: a}, ""
}

func pow2(n int) float64 {
	v := 1.0
	for range n {
		v *= 2
	}
	return v
}

func mod(a, m float64) float64 { return a - m*float64(int64(a/m)) }

// errList joins field errors the way Parse reports them.
func errList(errs []*FieldError) error {
	var es []error
	for _, e := range errs {
		es = append(es, e)
	}
	return errors.Join(es...)
}
