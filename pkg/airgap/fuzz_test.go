package airgap

import (
	"testing"

	digest "github.com/opencontainers/go-digest"
)

// FuzzParseRef feeds arbitrary strings to the image reference parser. A
// string either fails or gives a reference whose normalized form, pinned
// form (name:tag@digest) and stored names all parse back to the same
// repository, tag and digest; the heuristics and rewrites never panic.
func FuzzParseRef(f *testing.F) {
	for _, s := range []string{
		"nginx",
		"nginx:1.27",
		"library/nginx:latest",
		"docker.io/library/nginx",
		"ghcr.io/knative/helloworld-go:latest",
		"localhost:5000/a/b:v1",
		"[fd00::1]:5000/app:1",
		"gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"registry.k8s.io/pause:3.10@sha256:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		"quay.io/a@sha512:" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		" nginx",
		"Nginx",
		"a/b/c/d:tag_with.dots-1",
	} {
		f.Add(s)
	}
	pin := digest.FromString("fuzz")
	f.Fuzz(func(t *testing.T, s string) {
		_ = looksLikeImage(s)
		_ = Rewrites{"docker.io/library": "mirror.local/library", s: "example.com/x"}.Apply(s)
		r, err := parseRef(s)
		if err != nil {
			return
		}
		if r.name == "" || r.host() == "" || r.path() == "" {
			t.Fatalf("parseRef(%q) = name %q host %q path %q: empty part", s, r.name, r.host(), r.path())
		}
		same := func(form string, wantTag string, wantDigest digest.Digest) {
			t.Helper()
			b, err := parseRef(form)
			if err != nil {
				t.Fatalf("parseRef(%q) ok, but its form %q does not parse: %v", s, form, err)
			}
			if b.name != r.name || b.tag != wantTag || b.digest != wantDigest {
				t.Fatalf("parseRef(%q) = %s :%s @%s, its form %q = %s :%s @%s", s, r.name, wantTag, wantDigest, form, b.name, b.tag, b.digest)
			}
		}
		same(r.named.String(), r.tag, r.digest)
		wantTag := r.effectiveTag()
		if wantTag == "latest" {
			wantTag = ""
		}
		same(r.pinned(pin), wantTag, pin)
		for _, n := range r.names(pin) {
			if _, err := parseRef(n); err != nil {
				t.Fatalf("parseRef(%q): stored name %q does not parse: %v", s, n, err)
			}
		}
	})
}
