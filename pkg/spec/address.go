package spec

import (
	"fmt"
	"net/netip"
	"strings"
)

// AddressRange is one MetalLB pool entry as a closed range of addresses.
type AddressRange struct {
	From, To netip.Addr
	Text     string
}

// ParseAddressRange accepts a CIDR (192.168.10.240/28), a range
// (192.168.10.240-192.168.10.250) or one address.
func ParseAddressRange(s string) (AddressRange, error) {
	const form = "expected a CIDR (192.168.10.240/28), a range (192.168.10.240-192.168.10.250) or one address"
	s = strings.TrimSpace(s)
	if from, to, ok := strings.Cut(s, "-"); ok {
		a, err1 := netip.ParseAddr(strings.TrimSpace(from))
		b, err2 := netip.ParseAddr(strings.TrimSpace(to))
		if err1 != nil || err2 != nil {
			return AddressRange{}, fmt.Errorf("%q: %s", s, form)
		}
		if a.Is4() != b.Is4() {
			return AddressRange{}, fmt.Errorf("%q: both ends must be IPv4 or both IPv6", s)
		}
		if b.Less(a) {
			return AddressRange{}, fmt.Errorf("%q: the range ends before it starts", s)
		}
		return AddressRange{From: a, To: b, Text: s}, nil
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return AddressRange{}, fmt.Errorf("%q: %s", s, form)
		}
		if p.Masked() != p {
			return AddressRange{}, fmt.Errorf("%q: host bits set: expected the network address %s", s, p.Masked())
		}
		return AddressRange{From: p.Addr(), To: lastAddr(p), Text: s}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return AddressRange{}, fmt.Errorf("%q: %s", s, form)
	}
	return AddressRange{From: a, To: a, Text: s}, nil
}

// ParsePoolRange is ParseAddressRange for the MetalLB pool, which is IPv4
// only: the rendered stack names the first address in config-domain
// (<address>.sslip.io) and loadBalancerIPs, which are not written for IPv6
// (nor is dual-stack k0s networking), so an IPv6 or zoned address is
// refused rather than rendered into objects that do not work.
func ParsePoolRange(s string) (AddressRange, error) {
	r, err := ParseAddressRange(s)
	if err != nil {
		return r, err
	}
	if !r.From.Is4() || !r.To.Is4() {
		return AddressRange{}, fmt.Errorf("%q: IPv6 pools are not supported (the node's networking and the Knative domain edgeimg renders are IPv4 only): expected IPv4 addresses", strings.TrimSpace(s))
	}
	return r, nil
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bit := i * 8
		switch {
		case bit >= p.Bits():
			b[i] = 0xff
		case bit+8 > p.Bits():
			b[i] |= byte(0xff >> (p.Bits() - bit))
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// Overlaps reports whether two ranges share an address.
func (r AddressRange) Overlaps(o AddressRange) bool {
	return r.From.Is4() == o.From.Is4() && !r.To.Less(o.From) && !o.To.Less(r.From)
}

// FirstUsable is the first address MetalLB hands out from the range: for a
// CIDR MetalLB skips nothing, but the network address of an IPv4 /24-style
// pool is rarely reachable, so callers pinning an address use this.
func (r AddressRange) FirstUsable() netip.Addr {
	if strings.Contains(r.Text, "/") && r.From.Is4() && r.From != r.To {
		if n := r.From.Next(); n.IsValid() {
			return n
		}
	}
	return r.From
}
