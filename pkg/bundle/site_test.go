package bundle

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestApplySite runs the real apply-site.sh over a rendered payload laid
// out in a temp root, the way edgeimg-device.service runs it before k0s
// starts, and checks the pool, the Kourier address and the domain follow
// the device's MetalLB addresses, and that the shell agrees with Go on the
// address it pins.
func TestApplySite(t *testing.T) {
	res := render(t, nil)
	p, err := res.Bundle.Payload(Layout{})
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := p.WriteTree(root); err != nil {
		t.Fatal(err)
	}
	env, err := os.ReadFile(filepath.Join(root, SiteEnvPath))
	if err != nil {
		t.Fatal(err)
	}
	// site.env names node paths; point them into the temp root.
	local := strings.ReplaceAll(string(env), `="/`, `="`+root+`/`)
	siteEnv := filepath.Join(root, "site.env")
	os.WriteFile(siteEnv, []byte(local), 0o644)
	files := map[string]string{}
	for _, l := range strings.Split(local, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			files[k] = strings.Trim(v, `"`)
		}
	}

	steps := []struct {
		addresses string
		pool      []string
		lb        string
	}{
		{"10.0.0.16/28 10.0.1.5-10.0.1.9", []string{"10.0.0.16/28", "10.0.1.5-10.0.1.9"}, "10.0.0.17"},
		{"10.0.0.16/28 10.0.1.5-10.0.1.9", []string{"10.0.0.16/28", "10.0.1.5-10.0.1.9"}, "10.0.0.17"}, // again: no change
		{"192.168.7.200-192.168.7.210", []string{"192.168.7.200-192.168.7.210"}, "192.168.7.200"},
		{"", []string{"192.168.7.200-192.168.7.210"}, "192.168.7.200"}, // nothing set: left alone
		{"172.16.0.9", []string{"172.16.0.9"}, "172.16.0.9"},
	}
	for i, st := range steps {
		device := filepath.Join(root, "device.env")
		os.WriteFile(device, []byte("EDGEIMG_HOSTNAME=\"edge-1\"\nEDGEIMG_METALLB_ADDRESSES=\""+st.addresses+"\"\n"), 0o644)
		cmd := exec.Command("sh", filepath.Join(root, ApplySitePath))
		cmd.Env = append(os.Environ(), "EDGEIMG_SITE_ENV="+siteEnv, "EDGEIMG_DEVICE_ENV="+device, "EDGEIMG_STATE_DIR="+filepath.Join(root, "state"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("step %d: apply-site: %v\n%s", i, err, out)
		}
		pool := parseOne(t, files["EDGEIMG_SITE_POOL_FILE"], "IPAddressPool")
		got, _, _ := unstructured.NestedStringSlice(pool.Object, "spec", "addresses")
		if strings.Join(got, " ") != strings.Join(st.pool, " ") {
			t.Errorf("step %d: pool = %v, want %v", i, got, st.pool)
		}
		if adv := parseOne(t, files["EDGEIMG_SITE_POOL_FILE"], "L2Advertisement"); adv == nil {
			t.Errorf("step %d: the L2Advertisement was lost", i)
		}
		svc := parseOne(t, files["EDGEIMG_SITE_KOURIER_FILE"], "Service", "kourier")
		if got := svc.GetAnnotations()[metallbLBIPs]; got != st.lb {
			t.Errorf("step %d: kourier pinned to %q, want %q", i, got, st.lb)
		}
		dom := parseOne(t, files["EDGEIMG_SITE_DOMAIN_FILE"], "ConfigMap", "config-domain")
		data, _, _ := unstructured.NestedStringMap(dom.Object, "data")
		if _, ok := data[st.lb+".sslip.io"]; !ok || len(data) != 2 { // the domain and _example
			t.Errorf("step %d: config-domain data keys = %v, want %s.sslip.io", i, keys(data), st.lb)
		}
	}
}

func TestApplySiteAgreesWithGo(t *testing.T) {
	script, err := os.ReadFile("apply-site.sh")
	if err != nil {
		t.Fatal(err)
	}
	// Extract first_usable and call it.
	body := string(script)
	start := strings.Index(body, "first_usable() {")
	end := strings.Index(body[start:], "\n}\n") + start + 3
	fn := body[start:end]
	for _, in := range []string{"192.168.10.0/24", "192.168.10.240-192.168.10.250", "10.1.2.3", "10.0.0.16/28", "10.0.0.255/32", "10.0.255.0/24", "fd00::/120", "fd00::5-fd00::9"} {
		out, err := exec.Command("sh", "-c", fn+"\nfirst_usable \"$1\"", "sh", in).CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", in, err, out)
		}
		r, err := spec.ParseAddressRange(in)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.TrimSpace(string(out)), r.FirstUsable().String(); got != want {
			t.Errorf("first_usable %s = %s, Go says %s", in, got, want)
		}
	}
}

func parseOne(t *testing.T, file, kind string, name ...string) *unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := ParseObjects(file, data)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		if o.GetKind() == kind && (len(name) == 0 || o.GetName() == name[0]) {
			return o
		}
	}
	t.Fatalf("%s: no %s %v", file, kind, name)
	return nil
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
