package deploy

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/k0sproject/rig"
	riglog "github.com/k0sproject/rig/log"
)

// ParseHost reads [user@]address[:port]. An IPv6 address must be in
// brackets ([fd00::1], [fd00::1]:2222); unbracketed it is refused, since
// fd00::1:22 may be either an address or an address and a port.
// The user defaults to ssh_config's User for the address, then root.
func ParseHost(s string) (Host, error) {
	h := Host{Port: 22}
	rest := s
	if u, a, ok := strings.Cut(s, "@"); ok {
		if u == "" {
			return h, fmt.Errorf("host %q: empty user before @", s)
		}
		h.User, rest = u, a
	}
	switch {
	case strings.HasPrefix(rest, "["):
		addr, port, err := net.SplitHostPort(rest)
		if err != nil {
			if !strings.HasSuffix(rest, "]") {
				return h, fmt.Errorf("host %q: expected [address]:port", s)
			}
			addr, port = strings.Trim(rest, "[]"), ""
		}
		if ip, err := netip.ParseAddr(addr); err != nil || !ip.Is6() {
			return h, fmt.Errorf("host %q: %q in brackets: expected an IPv6 address", s, addr)
		}
		h.Address = addr
		if port != "" {
			p, err := strconv.Atoi(port)
			if err != nil || p < 1 || p > 65535 {
				return h, fmt.Errorf("host %q: port %q: expected 1-65535", s, port)
			}
			h.Port = p
		}
	case strings.Count(rest, ":") > 1:
		// fd00::1:22 is an address, or fd00::1 and port 22: never guessed.
		return h, fmt.Errorf("host %q: an IPv6 address must be in brackets: [%s] or [ADDRESS]:PORT (without them a port cannot be told from the address)", s, rest)
	case strings.Count(rest, ":") == 1:
		addr, port, _ := strings.Cut(rest, ":")
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return h, fmt.Errorf("host %q: port %q: expected 1-65535", s, port)
		}
		h.Address, h.Port = addr, p
	default:
		h.Address = rest
	}
	if h.Address == "" || strings.ContainsAny(h.Address, " /@") {
		return h, fmt.Errorf("host %q: expected [user@]address[:port]", s)
	}
	if h.User == "" {
		if u := rig.SSHConfigGetAll(h.Address, "User"); len(u) > 0 && u[0] != "" {
			h.User = u[0]
		} else {
			h.User = "root"
		}
	}
	return h, nil
}

// RigLogger adapts rig's logging to w: warnings and errors always, the
// rest with debug. Set it with rig.SetLogger; rig's default prints every
// trace line to stdout.
func RigLogger(w io.Writer, debug bool) riglog.Logger {
	return &rigLogger{w: w, debug: debug}
}

type rigLogger struct {
	w     io.Writer
	debug bool
}

func (l *rigLogger) print(level, format string, args ...any) {
	fmt.Fprintf(l.w, "rig %s: %s\n", level, fmt.Sprintf(format, args...))
}

func (l *rigLogger) Tracef(string, ...any) {}
func (l *rigLogger) Debugf(format string, args ...any) {
	if l.debug {
		l.print("debug", format, args...)
	}
}
func (l *rigLogger) Infof(format string, args ...any) {
	if l.debug {
		l.print("info", format, args...)
	}
}
func (l *rigLogger) Warnf(format string, args ...any)  { l.print("warning", format, args...) }
func (l *rigLogger) Errorf(format string, args ...any) { l.print("error", format, args...) }
