package regtest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Registry is an in-process registry on a loopback port.
type Registry struct {
	// Host is host:port of the listener.
	Host string
	srv  *httptest.Server
	// Requests counts every HTTP request the registry answered.
	Requests atomic.Int64
	mu       sync.Mutex
	corrupt  map[string]bool
	auth     string
	closed   bool
}

// RequireBasicAuth makes the registry answer 401 with a Basic challenge
// to every request without these credentials.
func (r *Registry) RequireBasicAuth(user, password string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.auth = base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// Start starts a registry, closed at the end of the test.
func Start(t testing.TB) *Registry {
	t.Helper()
	r := NewRegistry()
	t.Cleanup(r.Close)
	return r
}

// NewRegistry starts a registry the caller closes (benchmarks share one).
func NewRegistry() *Registry {
	r := &Registry{corrupt: map[string]bool{}}
	h := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.Requests.Add(1)
		r.mu.Lock()
		auth := r.auth
		bad := false
		for d := range r.corrupt {
			if strings.HasSuffix(req.URL.Path, "/blobs/"+d) || strings.HasSuffix(req.URL.Path, "/manifests/"+d) {
				bad = true
			}
		}
		r.mu.Unlock()
		if auth != "" && req.Header.Get("Authorization") != "Basic "+auth {
			w.Header().Set("WWW-Authenticate", `Basic realm="regtest"`)
			http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
			return
		}
		if bad && req.Method == http.MethodGet {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			body := rec.Body.Bytes()
			if len(body) > 0 {
				body[len(body)/2] ^= 0xff
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(body)
			return
		}
		h.ServeHTTP(w, req)
	}))
	r.Host = strings.TrimPrefix(r.srv.URL, "http://")
	return r
}

// Close stops the registry: every later request fails to connect.
func (r *Registry) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.closed {
		r.closed = true
		r.srv.Close()
	}
}

// Corrupt makes the registry flip a byte of the blob or manifest with
// this digest ("sha256:...") in every GET answer.
func (r *Registry) Corrupt(digest string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.corrupt[digest] = true
}

// Ref is host/repo:tag on this registry.
func (r *Registry) Ref(repoTag string) string { return r.Host + "/" + repoTag }

// Push writes an image (v1.Image) or an index (v1.ImageIndex) under ref
// (a full reference) and returns its digest.
func Push(t testing.TB, ref string, x any, opts ...name.Option) string {
	t.Helper()
	n, err := name.ParseReference(ref, opts...)
	if err != nil {
		t.Fatal(err)
	}
	switch v := x.(type) {
	case v1.ImageIndex:
		if err := remote.WriteIndex(n, v); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		d, _ := v.Digest()
		return d.String()
	case v1.Image:
		if err := remote.Write(n, v); err != nil {
			t.Fatalf("push %s: %v", ref, err)
		}
		d, _ := v.Digest()
		return d.String()
	}
	t.Fatalf("push %s: %T is not an image or index", ref, x)
	return ""
}

// Transport dials the given host names ("mirror.test:5000") at other
// addresses (a registry's Host), every other host as usual: registries
// under non-loopback names, which the registry client reaches over HTTPS
// unless told they are insecure.
func Transport(hosts map[string]string) http.RoundTripper {
	d := &net.Dialer{Timeout: 5 * time.Second}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = nil
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if to, ok := hosts[addr]; ok {
			addr = to
		}
		return d.DialContext(ctx, network, addr)
	}
	return tr
}

// File is one entry of a generated layer.
type File struct {
	Name string // path without leading slash; a name ending in / is a directory
	Data []byte
	Mode int64 // 0 means 0644 (0755 for directories)
}

// epoch is the modification time of every generated file.
var epoch = time.Unix(1700000000, 0).UTC()

// Layer builds a gzip layer of the given files (whiteouts are files named
// .wh.<name> and .wh..wh..opq).
func Layer(t testing.TB, files ...File) v1.Layer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.Name, Mode: f.Mode, ModTime: epoch, Format: tar.FormatPAX}
		if strings.HasSuffix(f.Name, "/") {
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(f.Data))
			if h.Mode == 0 {
				h.Mode = 0o644
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Image builds an OCI image for a platform ("linux/amd64",
// "linux/arm/v7") from layers, with an entrypoint.
func Image(t testing.TB, platform string, entrypoint []string, layers ...v1.Layer) v1.Image {
	t.Helper()
	p, err := v1.ParsePlatform(platform)
	if err != nil {
		t.Fatal(err)
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	img, err = mutate.AppendLayers(img, layers...)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = entrypoint
	cf.Config.Env = []string{"PATH=/"}
	img, err = mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// DockerImage is Image with Docker schema 2 media types.
func DockerImage(t testing.TB, platform string, entrypoint []string, layers ...v1.Layer) v1.Image {
	t.Helper()
	img := Image(t, platform, entrypoint, layers...)
	img = mutate.MediaType(img, types.DockerManifestSchema2)
	return mutate.ConfigMediaType(img, types.DockerConfigJSON)
}

// Index builds an OCI index of images, each with its config's platform.
func Index(t testing.TB, imgs ...v1.Image) v1.ImageIndex {
	t.Helper()
	var adds []mutate.IndexAddendum
	for _, img := range imgs {
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant},
		}})
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	return mutate.AppendManifests(idx, adds...)
}

// helloSource is the program of the runnable test images: it prints its
// message ($MSG) and, for each argument, whether that path exists.
const helloSource = `package main

import (
	"fmt"
	"os"
)

func main() {
	msg := os.Getenv("MSG")
	if msg == "" {
		msg = "hello from a preloaded image"
	}
	fmt.Println(msg)
	for _, p := range os.Args[1:] {
		if _, err := os.Stat(p); err == nil {
			fmt.Println("present", p)
		} else {
			fmt.Println("absent", p)
		}
	}
}
`

var (
	helloMu   sync.Mutex
	helloBins = map[string][]byte{}
)

// HelloBinary is the static hello program for an architecture (amd64,
// arm64), built once per test process.
func HelloBinary(t testing.TB, arch string) []byte {
	t.Helper()
	helloMu.Lock()
	defer helloMu.Unlock()
	if b, ok := helloBins[arch]; ok {
		return b
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module hello\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(helloSource), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(goBin(), "build", "-trimpath", "-ldflags=-s -w", "-o", "hello", ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch, "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build hello for %s: %v\n%s", arch, err, out)
	}
	b, err := os.ReadFile(filepath.Join(dir, "hello"))
	if err != nil {
		t.Fatal(err)
	}
	helloBins[arch] = b
	return b
}

func goBin() string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return "go"
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// Fixture is the standard set of test images pushed to a registry.
type Fixture struct {
	// Hello is a single-platform linux/amd64 image running /hello, three
	// layers: the shared base, the binary, and whiteouts of base files.
	Hello string
	// Multi is an index for linux/amd64 (runnable) and linux/arm64.
	Multi string
	// Sibling shares the base and binary layers with Hello (Docker media
	// types).
	Sibling string
	// Digests of the pushed images, by field name.
	HelloDigest, MultiDigest, SiblingDigest string
}

// BaseFiles are the files of the shared base layer.
var BaseFiles = []File{
	{Name: "etc/"}, {Name: "etc/base.txt", Data: []byte("base\n")}, {Name: "etc/gone.txt", Data: []byte("deleted by a whiteout\n")},
	{Name: "opq/"}, {Name: "opq/old.txt", Data: []byte("hidden by an opaque dir\n")},
}

// WhiteoutFiles delete etc/gone.txt and hide opq/'s old content.
var WhiteoutFiles = []File{
	{Name: "etc/"}, {Name: "etc/.wh.gone.txt"},
	{Name: "opq/"}, {Name: "opq/.wh..wh..opq"}, {Name: "opq/keep.txt", Data: []byte("new\n")},
}

// PushFixture pushes the standard images to r under prefix/ (e.g.
// "edge"): prefix/hello:v1, prefix/multi:v1, prefix/sibling:v1.
func PushFixture(t testing.TB, r *Registry, prefix string) Fixture {
	t.Helper()
	base := Layer(t, BaseFiles...)
	binAmd := Layer(t, File{Name: "hello", Data: HelloBinary(t, "amd64"), Mode: 0o755})
	binArm := Layer(t, File{Name: "hello", Data: HelloBinary(t, "arm64"), Mode: 0o755})
	wh := Layer(t, WhiteoutFiles...)
	ep := []string{"/hello"}
	f := Fixture{
		Hello:   r.Ref(prefix + "/hello:v1"),
		Multi:   r.Ref(prefix + "/multi:v1"),
		Sibling: r.Ref(prefix + "/sibling:v1"),
	}
	f.HelloDigest = Push(t, f.Hello, Image(t, "linux/amd64", ep, base, binAmd, wh))
	f.MultiDigest = Push(t, f.Multi, Index(t,
		Image(t, "linux/amd64", ep, base, binAmd, Layer(t, File{Name: "multi-amd64.txt", Data: []byte("amd64\n")})),
		Image(t, "linux/arm64", ep, base, binArm, Layer(t, File{Name: "multi-arm64.txt", Data: []byte("arm64\n")})),
	))
	f.SiblingDigest = Push(t, f.Sibling, DockerImage(t, "linux/amd64", ep, base, binAmd,
		Layer(t, File{Name: "sibling.txt", Data: []byte(fmt.Sprintf("sibling of %s\n", f.Hello))})))
	return f
}
