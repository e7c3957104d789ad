package image

import (
	"archive/tar"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/pkg/image/rootfs"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

// TestCheckLinks: a payload link's target must be in the base (through
// the base's own links too); the error says which package and, for a
// root file system of the user's, the spec field.
func TestCheckLinks(t *testing.T) {
	ix := &rootfs.Index{Headers: map[string]*tar.Header{
		"/usr/lib/cni/bridge":   {Name: "usr/lib/cni/bridge", Typeflag: tar.TypeReg},
		"/usr/lib/cni/loopback": {Name: "usr/lib/cni/loopback", Typeflag: tar.TypeSymlink, Linkname: "bridge"},
	}}
	p := func(targets ...string) *payload.Payload {
		pl := &payload.Payload{Packages: []string{"containernetworking-plugins"}}
		for _, tg := range targets {
			pl.AddLink("/opt/cni/bin/x"+tg, tg)
		}
		return pl
	}
	for _, tc := range []struct {
		name   string
		p      *payload.Payload
		rootfs bool
		err    string
	}{
		{"no payload", nil, false, ""},
		{"present", p("/usr/lib/cni/bridge", "/usr/lib/cni/loopback"), false, ""},
		{"missing from the Debian base", p("/usr/lib/cni/portmap"), false, "the Debian base has no /usr/lib/cni/portmap"},
		{"missing from the user's root", p("/usr/lib/cni/portmap"), true, "spec.os.rootfs has no /usr/lib/cni/portmap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkLinks(ix, tc.p, tc.rootfs)
			if tc.err == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "containernetworking-plugins") {
				t.Fatalf("checkLinks: %v, want %q naming the package", err, tc.err)
			}
		})
	}
}
