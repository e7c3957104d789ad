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

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/pkg/bundle"
)

// fixtureObjects parses upstream manifest files (paths relative to the
// fixtures root) into bundle objects, one stack per file's project.
func fixtureObjects(t testing.TB, files ...string) []bundle.Object {
	t.Helper()
	root := fixtures.Upstream(t)
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
