package airgap

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	"github.com/edgeimg/edgeimg/pkg/bundle"
)

// fixturesRoot is the directory of real upstream manifests: $EDGEIMG_FIXTURES,
// else ../shared/fixtures/upstream next to the repository root.
func fixturesRoot(t testing.TB) string {
	t.Helper()
	if d := os.Getenv("EDGEIMG_FIXTURES"); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
	d := filepath.Join(filepath.Dir(dir), "shared", "fixtures", "upstream")
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("upstream fixtures: %v (set EDGEIMG_FIXTURES)", err)
	}
	return d
}

// fixtureObjects parses upstream manifest files (paths relative to the
// fixtures root) into bundle objects, one stack per file's project.
func fixtureObjects(t testing.TB, files ...string) []bundle.Object {
	t.Helper()
	root := fixturesRoot(t)
	var out []bundle.Object
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var m map[string]any
			if err := dec.Decode(&m); err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				t.Fatalf("%s: %v", f, err)
			}
			if len(m) == 0 {
				continue
			}
			out = append(out, bundle.Object{
				Stack: filepath.Dir(filepath.Dir(f)),
				File:  filepath.Base(f),
				Obj:   &unstructured.Unstructured{Object: m},
			})
		}
	}
	return out
}

func descOf(d string) ocispec.Descriptor {
	return ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.Digest(d), Size: 100}
}
