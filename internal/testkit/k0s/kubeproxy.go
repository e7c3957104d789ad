package k0s

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/ctrimage"
)

// KubeProxyImage is k0s's kube-proxy image built here: the kube-proxy from
// hack/build-bins.sh at /usr/local/bin/kube-proxy (where k0s's DaemonSet runs
// it) and Debian's iptables (nft backend, as k0s picks on a kernel ≥ 5 with
// no rules yet) with its libraries and extensions. ref is the name k0s.yaml
// points spec.images.kubeproxy at.
func KubeProxyImage(t testing.TB, ref string) ctrimage.Image {
	t.Helper()
	kp := testkit.Binary(t, "kube-proxy")
	const multi = "/usr/sbin/xtables-nft-multi"
	_, err := os.Stat(multi)
	testkit.Require(t, err == nil, multi+" not found (Debian package iptables)")
	files, err := ctrimage.HostExecutableFiles(multi)
	if err != nil {
		t.Fatalf("kube-proxy image: %v", err)
	}
	exts, _ := filepath.Glob("/usr/lib/*-linux-gnu/xtables/*.so")
	testkit.Require(t, len(exts) > 0, "iptables extensions not found in /usr/lib/<triplet>/xtables (Debian package libxtables12)")
	for _, e := range exts {
		files = append(files, ctrimage.File{Path: e, Source: e})
	}
	for _, l := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		files = append(files, ctrimage.File{Path: "/usr/sbin/" + l, Link: "xtables-nft-multi"})
	}
	files = append(files, ctrimage.File{Path: "/usr/local/bin/kube-proxy", Source: kp})
	return ctrimage.Image{
		Ref:        ref,
		Files:      files,
		Entrypoint: []string{"/usr/local/bin/kube-proxy"},
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	}
}
