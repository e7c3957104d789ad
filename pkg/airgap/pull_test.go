package airgap

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/cache"
)

func newStore(t testing.TB) *Store {
	t.Helper()
	c, err := cache.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return NewStore(c)
}

// refsAt makes references found at a test location named after them.
func refsAt(refs ...string) []Ref {
	out := make([]Ref, len(refs))
	for i, r := range refs {
		out[i] = Ref{Ref: r, Locations: []Location{{Where: "stack/test.yaml: Deployment ns/app", Field: "spec.template.spec.containers[" + filepath.Base(r) + "].image"}}}
	}
	return out
}

// noTempFiles fails when a pull left anything half-written in the cache.
func noTempFiles(t *testing.T, st *Store) {
	t.Helper()
	filepath.WalkDir(st.cache.Root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && strings.Contains(d.Name(), ".tmp") {
			t.Errorf("half-written file left in the cache: %s", p)
		}
		return nil
	})
}

func TestPullPlatformsAndSharedLayers(t *testing.T) {
	ctx := context.Background()
	reg := regtest.Start(t)
	fx := regtest.PushFixture(t, reg, "edge")
	st := newStore(t)
	var progress strings.Builder
	res, err := Pull(ctx, st, refsAt(fx.Hello, fx.Multi, fx.Sibling), Options{Platform: "linux/amd64", Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	hello, multi, sibling := res.Images[0], res.Images[1], res.Images[2]
	// Distinct amd64 layers: base, binary, whiteouts, and one own layer
	// each for multi and sibling (progress counts layers).
	if !strings.Contains(progress.String(), "pulling 5 blobs") || strings.Count(progress.String(), "/5 ") != 5 ||
		!strings.Contains(progress.String(), "pulled ") {
		t.Errorf("progress output:\n%s", progress.String())
	}
	if hello.Digest().String() != fx.HelloDigest || multi.Digest().String() != fx.MultiDigest || sibling.Digest().String() != fx.SiblingDigest {
		t.Fatalf("digests %s %s %s, want the pushed %s %s %s", hello.Digest(), multi.Digest(), sibling.Digest(), fx.HelloDigest, fx.MultiDigest, fx.SiblingDigest)
	}
	if want := reg.Host + "/edge/hello:v1@" + fx.HelloDigest; hello.Pinned() != want {
		t.Errorf("pinned %s, want %s", hello.Pinned(), want)
	}
	// The index keeps its own digest; the amd64 manifest is below it.
	if multi.Target.MediaType != ocispec.MediaTypeImageIndex || multi.Manifest.Digest == multi.Target.Digest ||
		multi.PlatformString() != "linux/amd64" {
		t.Errorf("multi: target %v manifest %v platform %s", multi.Target, multi.Manifest, multi.PlatformString())
	}
	if sibling.Manifest.MediaType != mediaTypeDockerManifest {
		t.Errorf("sibling media type %s", sibling.Manifest.MediaType)
	}
	for _, im := range res.Images {
		for _, b := range im.Blobs() {
			if !st.Has(b.Digest) {
				t.Errorf("%s: blob %s not in the store", im.Name, b.Digest)
			}
		}
	}
	// Only the target platform: the arm64 manifest of the index is not
	// fetched.
	idx, err := st.ReadBlob(multi.Target.Digest)
	if err != nil {
		t.Fatal(err)
	}
	var doc manifestDoc
	json.Unmarshal(idx, &doc)
	for _, m := range doc.Manifests {
		if m.Platform.Architecture == "arm64" && st.Has(m.Digest) {
			t.Errorf("arm64 manifest %s fetched for linux/amd64", m.Digest)
		}
	}
	// Shared layers are fetched once: hello, multi and sibling share the
	// base and binary layers.
	unique := map[digest.Digest]bool{}
	for _, im := range res.Images {
		for _, b := range im.Blobs() {
			unique[b.Digest] = true
		}
	}
	if hello.Layers[0].Digest != sibling.Layers[0].Digest || hello.Layers[1].Digest != multi.Layers[1].Digest {
		t.Fatal("fixture images do not share layers")
	}
	if res.Fetched != len(unique) || res.Cached != 0 {
		t.Errorf("fetched %d, cached %d blobs; want %d and 0", res.Fetched, res.Cached, len(unique))
	}

	// arm64: the arm64 manifest of the index; the amd64-only image fails
	// naming its platform and where it was found.
	arm := newStore(t)
	res, err = Pull(ctx, arm, refsAt(fx.Multi), Options{Platform: "linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].PlatformString() != "linux/arm64" || res.Images[0].Digest().String() != fx.MultiDigest {
		t.Errorf("arm64 pull: %s %s", res.Images[0].PlatformString(), res.Images[0].Digest())
	}
	if res.Images[0].Layers[1].Digest == multi.Layers[1].Digest {
		t.Error("arm64 pull got the amd64 binary layer")
	}
	_, err = Pull(ctx, arm, refsAt(fx.Hello), Options{Platform: "linux/arm64"})
	for _, want := range []string{fx.Hello, "stack/test.yaml: Deployment ns/app", "no image for platform linux/arm64", "the image is linux/amd64"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("amd64 image on arm64: error %v, want it to say %q", err, want)
		}
	}
	noTempFiles(t, arm)
}

func TestPullWarmCacheNeedsNoNetwork(t *testing.T) {
	ctx := context.Background()
	reg := regtest.Start(t)
	fx := regtest.PushFixture(t, reg, "edge")
	st := newStore(t)
	refs := refsAt(fx.Hello, fx.Multi, fx.Sibling, fx.Hello[:strings.LastIndex(fx.Hello, ":")]+"@"+fx.HelloDigest)
	cold, err := Pull(ctx, st, refs, Options{Platform: "linux/amd64"})
	if err != nil {
		t.Fatal(err)
	}
	reg.Close()
	before := reg.Requests.Load()
	warm, err := Pull(ctx, st, refs, Options{Platform: "linux/amd64"})
	if err != nil {
		t.Fatalf("warm pull with the registry stopped: %v", err)
	}
	if n := reg.Requests.Load() - before; n != 0 {
		t.Errorf("warm pull made %d registry requests", n)
	}
	if warm.Fetched != 0 || warm.Cached == 0 {
		t.Errorf("warm pull fetched %d, cached %d", warm.Fetched, warm.Cached)
	}
	if !reflect.DeepEqual(warm.Images, cold.Images) {
		t.Errorf("warm pull resolved differently:\n%+v\n%+v", warm.Images, cold.Images)
	}
	// The registry is really gone: an empty store cannot pull.
	if _, err := Pull(ctx, newStore(t), refsAt(fx.Hello), Options{Platform: "linux/amd64", Retries: 1}); err == nil {
		t.Fatal("pull into an empty store worked with the registry stopped")
	}
}

func TestPullTagMoved(t *testing.T) {
	ctx := context.Background()
	reg := regtest.Start(t)
	ref := reg.Ref("edge/moving:v1")
	a := regtest.Push(t, ref, regtest.Image(t, "linux/amd64", nil, regtest.Layer(t, regtest.File{Name: "a.txt", Data: []byte("a")})))
	st := newStore(t)
	opt := Options{Platform: "linux/amd64"}
	res, err := Pull(ctx, st, refsAt(ref), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest().String() != a {
		t.Fatalf("first pull %s, want %s", res.Images[0].Digest(), a)
	}
	b := regtest.Push(t, ref, regtest.Image(t, "linux/amd64", nil, regtest.Layer(t, regtest.File{Name: "b.txt", Data: []byte("b")})))

	// Without Refresh, the recorded resolution stands and the registry is
	// not asked.
	before := reg.Requests.Load()
	res, err = Pull(ctx, st, refsAt(ref), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest().String() != a || len(res.Moved) != 0 || reg.Requests.Load() != before {
		t.Errorf("pull without refresh: %s, moved %v, %d requests", res.Images[0].Digest(), res.Moved, reg.Requests.Load()-before)
	}

	opt.Refresh = true
	res, err = Pull(ctx, st, refsAt(ref), opt)
	if err != nil {
		t.Fatal(err)
	}
	if res.Images[0].Digest().String() != b {
		t.Errorf("refresh got %s, want %s", res.Images[0].Digest(), b)
	}
	if len(res.Moved) != 1 || res.Moved[0].Was.String() != a || res.Moved[0].Now.String() != b ||
		!strings.Contains(res.Moved[0].String(), "stack/test.yaml") {
		t.Errorf("moved = %v, want %s → %s", res.Moved, a, b)
	}
	// The new resolution is recorded.
	opt.Refresh = false
	res, err = Pull(ctx, st, refsAt(ref), opt)
	if err != nil || res.Images[0].Digest().String() != b {
		t.Errorf("after refresh: %v %v", res, err)
	}
}

func TestPullErrors(t *testing.T) {
	ctx := context.Background()
	reg := regtest.Start(t)
	fx := regtest.PushFixture(t, reg, "edge")
	helloLayer := func() string {
		st := newStore(t)
		res, err := Pull(ctx, st, refsAt(fx.Hello), Options{Platform: "linux/amd64"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Images[0].Layers[2].Digest.String()
	}()
	bad := regtest.Start(t)
	badRef := bad.Ref("edge/hello:v1")
	regtest.Push(t, badRef, regtest.Image(t, "linux/amd64", []string{"/hello"}, regtest.Layer(t, regtest.BaseFiles...), regtest.Layer(t, regtest.WhiteoutFiles...)))
	var badLayer string
	{
		st := newStore(t)
		res, err := Pull(ctx, st, refsAt(badRef), Options{Platform: "linux/amd64"})
		if err != nil {
			t.Fatal(err)
		}
		badLayer = res.Images[0].Layers[1].Digest.String()
	}
	bad.Corrupt(badLayer)
	badIdx := bad.Ref("edge/idx:v1")
	idxDigest := regtest.Push(t, badIdx, regtest.Index(t, regtest.Image(t, "linux/amd64", nil, regtest.Layer(t, regtest.File{Name: "x", Data: []byte("x")}))))
	bad.Corrupt(idxDigest)
	_ = helloLayer

	repo := func(r string) string { return r[:strings.LastIndex(r, ":")] }
	tests := []struct {
		name     string
		ref      string
		platform string
		want     []string
	}{
		{"missing tag", reg.Ref("edge/nope:v1"), "linux/amd64", []string{"not found"}},
		{"missing digest", repo(fx.Hello) + "@sha256:" + strings.Repeat("0", 64), "linux/amd64", []string{"not found"}},
		{"platform absent from index", fx.Multi, "linux/arm/v7", []string{"no image for platform linux/arm/v7", "linux/amd64, linux/arm64"}},
		{"platform absent from image", fx.Sibling, "linux/arm64", []string{"no image for platform linux/arm64", "the image is linux/amd64"}},
		{"layer digest mismatch", badRef, "linux/amd64", []string{badLayer, "checksum"}},
		{"manifest digest mismatch", repo(badIdx) + "@" + idxDigest, "linux/amd64", []string{idxDigest}},
		{"invalid reference", "ko://knative.dev/serving/cmd/default-domain", "linux/amd64", []string{"invalid image reference"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := newStore(t)
			_, err := Pull(ctx, st, refsAt(tt.ref), Options{Platform: tt.platform, Retries: 2})
			if err == nil {
				t.Fatalf("pull %s worked", tt.ref)
			}
			for _, w := range append(tt.want, tt.ref, "stack/test.yaml: Deployment ns/app") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			noTempFiles(t, st)
			if d := digest.Digest(badLayer); st.Has(d) {
				t.Errorf("corrupt blob %s stored", d)
			}
			if _, ok, _ := st.Resolved(reg.Host+"/edge/nope", "v1"); ok {
				t.Error("missing tag recorded")
			}
			if _, ok, _ := st.Resolved(bad.Host+"/edge/hello", "v1"); ok {
				t.Error("tag of an image with a corrupt layer recorded")
			}
		})
	}
}

// TestPullRegistryOptions covers --insecure-registry, mirrors, reference
// rewrites and Docker config credentials, with registries under
// non-loopback names (which the client reaches over HTTPS unless told
// they are insecure).
func TestPullRegistryOptions(t *testing.T) {
	ctx := context.Background()
	upstream := regtest.Start(t)
	mirror := regtest.Start(t)
	tr := regtest.Transport(map[string]string{"upstream.test:5000": upstream.Host, "mirror.test:5000": mirror.Host})
	img := regtest.Image(t, "linux/amd64", nil, regtest.Layer(t, regtest.File{Name: "up.txt", Data: []byte("up")}))
	upDigest := regtest.Push(t, upstream.Ref("knative/app:v1"), img)
	mirImg := regtest.Image(t, "linux/amd64", nil, regtest.Layer(t, regtest.File{Name: "mirror.txt", Data: []byte("mirror")}))
	mirDigest := regtest.Push(t, mirror.Ref("envoyproxy/envoy:v1.37-latest"), mirImg)

	t.Run("insecure registry", func(t *testing.T) {
		ref := "upstream.test:5000/knative/app:v1"
		_, err := Pull(ctx, newStore(t), refsAt(ref), Options{Platform: "linux/amd64", Transport: tr, Retries: 1})
		if err == nil {
			t.Fatal("plain HTTP registry reached without --insecure-registry")
		}
		res, err := Pull(ctx, newStore(t), refsAt(ref), Options{Platform: "linux/amd64", Transport: tr, Insecure: []string{"upstream.test:5000"}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Images[0].Digest().String() != upDigest {
			t.Errorf("digest %s, want %s", res.Images[0].Digest(), upDigest)
		}
	})
	t.Run("mirror", func(t *testing.T) {
		res, err := Pull(ctx, newStore(t), refsAt("envoyproxy/envoy:v1.37-latest"), Options{
			Platform: "linux/amd64", Transport: tr,
			Mirrors:  map[string]string{"docker.io": "mirror.test:5000"},
			Insecure: []string{"mirror.test:5000"},
		})
		if err != nil {
			t.Fatal(err)
		}
		im := res.Images[0]
		if im.Name != "docker.io/envoyproxy/envoy" || im.Source != "mirror.test:5000/envoyproxy/envoy" || im.Digest().String() != mirDigest {
			t.Errorf("mirror: name %s source %s digest %s", im.Name, im.Source, im.Digest())
		}
		if want := "docker.io/envoyproxy/envoy:v1.37-latest@" + mirDigest; im.Pinned() != want {
			t.Errorf("pinned %s, want %s", im.Pinned(), want)
		}
	})
	t.Run("replace", func(t *testing.T) {
		ref := "gcr.io/knative-releases/app:v1"
		res, err := Pull(ctx, newStore(t), refsAt(ref), Options{
			Platform: "linux/amd64", Transport: tr,
			Replace:  Rewrites{"gcr.io/knative-releases": "upstream.test:5000/knative"},
			Insecure: []string{"upstream.test:5000"},
		})
		if err != nil {
			t.Fatal(err)
		}
		im := res.Images[0]
		if im.Ref.Ref != ref || im.Pinned() != "upstream.test:5000/knative/app:v1@"+upDigest {
			t.Errorf("replace: found %s, pinned %s", im.Ref.Ref, im.Pinned())
		}
	})
	t.Run("docker config credentials", func(t *testing.T) {
		private := regtest.Start(t)
		ref := private.Ref("private/app:v1")
		regtest.Push(t, ref, img)
		private.RequireBasicAuth("edge", "s3cret")
		dir := t.TempDir()
		t.Setenv("DOCKER_CONFIG", dir)
		_, err := Pull(ctx, newStore(t), refsAt(ref), Options{Platform: "linux/amd64", Retries: 1})
		if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
			t.Fatalf("pull without credentials: %v", err)
		}
		cfg := `{"auths":{"` + private.Host + `":{"auth":"` + base64.StdEncoding.EncodeToString([]byte("edge:s3cret")) + `"}}}`
		if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		res, err := Pull(ctx, newStore(t), refsAt(ref), Options{Platform: "linux/amd64"})
		if err != nil {
			t.Fatalf("pull with Docker config credentials: %v", err)
		}
		if res.Images[0].Digest().String() != upDigest {
			t.Errorf("digest %s", res.Images[0].Digest())
		}
	})
}
