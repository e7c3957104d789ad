package regtest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// StackImage is one image of the synthetic edge stack.
type StackImage struct {
	Repo string  // repository below the registry
	Tag  string  // tag pushed
	MiB  float64 // approximate compressed size of its own layer, per platform
	// ByDigest: manifests name it by digest (Knative's release YAML),
	// else by tag (Kourier's envoy, MetalLB, k0s's pause).
	ByDigest bool
}

// EdgeStack approximates the images of Knative Serving + Kourier +
// MetalLB and k0s's pause, with compressed sizes of their own layers in
// the range of the real ones; every image also has a per-platform base
// layer shared by all (like distroless static).
var EdgeStack = []StackImage{
	{"knative/serving/activator", "v1.23.0", 12, true},
	{"knative/serving/autoscaler", "v1.23.0", 12, true},
	{"knative/serving/controller", "v1.23.0", 14, true},
	{"knative/serving/webhook", "v1.23.0", 12, true},
	{"knative/serving/queue", "v1.23.0", 8, true},
	{"knative/net-kourier/kourier", "v1.23.0", 14, true},
	{"envoyproxy/envoy", "v1.37-latest", 24, false},
	{"metallb/controller", "v0.15.3", 10, false},
	{"metallb/speaker", "v0.15.3", 12, false},
	{"k0sproject/pause", "3.10.1", 0.3, false},
}

// StackPlatforms are the platforms each stack image is published for
// (Knative publishes these four).
var StackPlatforms = []string{"linux/amd64", "linux/arm64", "linux/ppc64le", "linux/s390x"}

// StackBaseMiB is the size of the shared base layer.
const StackBaseMiB = 2

// PushStack pushes EdgeStack to r, each image an index of StackPlatforms,
// sizes multiplied by scale, and returns the references as manifests
// would write them.
func PushStack(r *Registry, scale float64) ([]string, error) {
	bases := map[string]v1.Layer{}
	for _, p := range StackPlatforms {
		l, err := randomLayer("base-"+p, StackBaseMiB*scale)
		if err != nil {
			return nil, err
		}
		bases[p] = l
	}
	var refs []string
	for _, si := range EdgeStack {
		var adds []mutate.IndexAddendum
		for _, p := range StackPlatforms {
			own, err := randomLayer(si.Repo+"-"+p, si.MiB*scale)
			if err != nil {
				return nil, err
			}
			img, err := stackImage(p, bases[p], own)
			if err != nil {
				return nil, err
			}
			pl, _ := v1.ParsePlatform(p)
			adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: pl}})
		}
		idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
		tag := r.Ref(si.Repo + ":" + si.Tag)
		n, err := name.ParseReference(tag)
		if err != nil {
			return nil, err
		}
		if err := remote.WriteIndex(n, idx); err != nil {
			return nil, fmt.Errorf("push %s: %w", tag, err)
		}
		if si.ByDigest {
			d, _ := idx.Digest()
			tag = r.Ref(si.Repo) + "@" + d.String()
		}
		refs = append(refs, tag)
	}
	return refs, nil
}

func stackImage(platform string, layers ...v1.Layer) (v1.Image, error) {
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		return nil, err
	}
	img := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{"/app"}
	return mutate.ConfigFile(img, cf)
}

// randomLayer is a gzip layer with one file of about 2×mib MiB that
// compresses to about half (like a Go binary), seeded by name.
func randomLayer(seed string, mib float64) (v1.Layer, error) {
	size := int(mib * 2 * (1 << 20))
	var s uint64
	for _, c := range seed {
		s = s*131 + uint64(c)
	}
	rng := rand.New(rand.NewPCG(s, 0x9e3779b97f4a7c15))
	data := make([]byte, size)
	text := []byte(strings.Repeat("runtime.gopanic main.main github.com/knative ", 100))
	for off := 0; off < size; off += 4096 {
		end := min(off+2048, size)
		for i := off; i < end; i++ {
			data[i] = byte(rng.Uint32())
		}
		if end < size {
			copy(data[end:min(off+4096, size)], text)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "app", Mode: 0o755, Size: int64(size), ModTime: epoch, Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	zw.Write(buf.Bytes())
	zw.Close()
	compressed := gz.Bytes()
	// Already gzip: the layer uses these bytes as they are.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(compressed)), nil
	}, tarball.WithMediaType(types.OCILayer))
}
