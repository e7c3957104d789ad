package kubeconfig_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/edgeimg/edgeimg/pkg/kubeconfig"
)

// adminConf is laid out as k0s writes <data-dir>/pki/admin.conf.
const adminConf = `apiVersion: v1
clusters:
- cluster:
    server: https://localhost:6443
    certificate-authority-data: Q0EK
  name: local
contexts:
- context:
    cluster: local
    namespace: default
    user: user
  name: Default
current-context: Default
kind: Config
preferences: {}
users:
- name: user
  user:
    client-certificate-data: Q0VSVAo=
    client-key-data: S0VZCg==
`

// TestRewrite reads the result with client-go's own loader (what kubectl
// uses): the names, the server, the credentials and the namespace.
func TestRewrite(t *testing.T) {
	for _, tc := range []struct {
		name   string
		in     string
		o      kubeconfig.Options
		server string
		err    string
	}{
		{name: "IPv4", in: adminConf, o: kubeconfig.Options{Name: "edge-1", Address: "192.168.1.20"}, server: "https://192.168.1.20:6443"},
		{name: "IPv6", in: adminConf, o: kubeconfig.Options{Name: "edge-1", Address: "fd00::20"}, server: "https://[fd00::20]:6443"},
		{name: "host name", in: adminConf, o: kubeconfig.Options{Name: "edge-1", Address: "edge-1.lan"}, server: "https://edge-1.lan:6443"},
		{name: "the node's port kept", in: strings.Replace(adminConf, "localhost:6443", "localhost:7443", 1), o: kubeconfig.Options{Name: "edge-1", Address: "10.0.0.1"}, server: "https://10.0.0.1:7443"},
		{name: "--server", in: adminConf, o: kubeconfig.Options{Name: "edge-1", Address: "10.0.0.1", Server: "https://127.0.0.1:16443"}, server: "https://127.0.0.1:16443"},
		{name: "--server http", in: adminConf, o: kubeconfig.Options{Name: "e", Address: "10.0.0.1", Server: "http://10.0.0.1:6443"}, err: `--server "http://10.0.0.1:6443": expected https://HOST[:PORT]`},
		{name: "--server path", in: adminConf, o: kubeconfig.Options{Name: "e", Server: "https://10.0.0.1:6443/x"}, err: "expected https://HOST[:PORT]"},
		{name: "--server port", in: adminConf, o: kubeconfig.Options{Name: "e", Server: "https://10.0.0.1:0"}, err: `port "0": expected 1-65535`},
		{name: "no name", in: adminConf, o: kubeconfig.Options{Address: "10.0.0.1"}, err: "no name"},
		{name: "two clusters", in: strings.Replace(adminConf, "clusters:\n", "clusters:\n- cluster:\n    server: https://x:1\n  name: other\n", 1), o: kubeconfig.Options{Name: "e", Address: "10.0.0.1"}, err: "2 clusters, 1 contexts, 1 users; expected one of each"},
		{name: "not a kubeconfig", in: "kind: Pod\n", o: kubeconfig.Options{Name: "e", Address: "10.0.0.1"}, err: `kind "Pod", expected Config`},
		{name: "not YAML", in: "\t:", o: kubeconfig.Options{Name: "e", Address: "10.0.0.1"}, err: "the node's kubeconfig:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := kubeconfig.Rewrite([]byte(tc.in), tc.o)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to say %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c, err := clientcmd.Load(out)
			if err != nil {
				t.Fatalf("client-go cannot load the result: %v\n%s", err, out)
			}
			n := tc.o.Name
			if c.CurrentContext != n || len(c.Contexts) != 1 || len(c.Clusters) != 1 || len(c.AuthInfos) != 1 {
				t.Fatalf("current context %q, %d contexts, %d clusters, %d users; want %q and one each:\n%s", c.CurrentContext, len(c.Contexts), len(c.Clusters), len(c.AuthInfos), n, out)
			}
			ctx := c.Contexts[n]
			if ctx == nil || ctx.Cluster != n || ctx.AuthInfo != n || ctx.Namespace != "default" {
				t.Fatalf("context %q = %+v, want cluster and user %q, namespace default", n, ctx, n)
			}
			if cl := c.Clusters[n]; cl == nil || cl.Server != tc.server || string(cl.CertificateAuthorityData) != "CA\n" {
				t.Errorf("cluster %q = %+v, want server %s and the node's CA", n, cl, tc.server)
			}
			if u := c.AuthInfos[n]; u == nil || string(u.ClientCertificateData) != "CERT\n" || string(u.ClientKeyData) != "KEY\n" {
				t.Errorf("user %q = %+v, want the node's client certificate and key", n, u)
			}
		})
	}
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "edge.kubeconfig")
	old := syscall.Umask(0)
	defer syscall.Umask(old)

	if err := kubeconfig.WriteFile(p, []byte("one"), false); err != nil {
		t.Fatal(err)
	}
	check(t, p, "one")
	err := kubeconfig.WriteFile(p, []byte("two"), false)
	if err == nil || !strings.Contains(err.Error(), "exists; pass --force to replace it") {
		t.Fatalf("second write without force: err = %v", err)
	}
	check(t, p, "one")
	if err := kubeconfig.WriteFile(p, []byte("three"), true); err != nil {
		t.Fatal(err)
	}
	check(t, p, "three")
	// A looser file replaced with --force comes out 0600.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := kubeconfig.WriteFile(p, []byte("four"), true); err != nil {
		t.Fatal(err)
	}
	check(t, p, "four")
	// A dangling symlink is a file that exists.
	link := filepath.Join(dir, "link")
	if err := os.Symlink(filepath.Join(dir, "nowhere"), link); err != nil {
		t.Fatal(err)
	}
	if err := kubeconfig.WriteFile(link, []byte("x"), false); err == nil {
		t.Error("wrote over a symlink without force")
	}
	if err := kubeconfig.WriteFile(filepath.Join(dir, "missing", "f"), []byte("x"), false); err == nil {
		t.Error("wrote into a missing directory")
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func check(t *testing.T, p, want string) {
	t.Helper()
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != want {
		t.Errorf("%s = %q, want %q", p, data, want)
	}
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("%s mode %o, want 600", p, st.Mode().Perm())
	}
}
