package airgap

// Benchmarks of the airgap step (hack/bench/airgap.sh runs them with the
// prerequisites built): bytes of the preloaded store and the bundle next
// to a naive per-image all-platform export; first start of a real
// containerd on the preloaded store against importing the bundle as k0s
// does on every start; the cost of CRI's lazy unpack; warm rebuilds; cold
// pull throughput next to crane. The images are a synthetic stack shaped
// like Knative Serving + Kourier + MetalLB (regtest.EdgeStack: four
// platforms, a shared base layer), scaled by $EDGEIMG_BENCH_SCALE.

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/internal/testkit/ctrd"

	containerd "github.com/containerd/containerd"
	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/cache"
)

type benchEnv struct {
	reg    *regtest.Registry
	refs   []Ref
	dir    string
	store  *Store
	images []Image
	root   string // preloaded containerd root
	bundle string // bundle tar
	names  int    // image names in the store
	bytes  int64  // bytes of the images' distinct blobs
}

var benchState struct {
	once sync.Once
	env  *benchEnv
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchState.env != nil {
		benchState.env.reg.Close()
		os.RemoveAll(benchState.env.dir)
	}
	os.Exit(code)
}

// getBenchEnv pushes the stack, pulls it for linux/amd64, preloads it
// and bundles it, once per process.
func getBenchEnv(b *testing.B) *benchEnv {
	b.Helper()
	benchState.once.Do(func() {
		scale := 1.0
		if v := os.Getenv("EDGEIMG_BENCH_SCALE"); v != "" {
			scale, benchState.err = strconv.ParseFloat(v, 64)
			if benchState.err != nil {
				return
			}
		}
		e := &benchEnv{reg: regtest.NewRegistry()}
		benchState.env = e
		refs, err := regtest.PushStack(e.reg, scale)
		if err != nil {
			benchState.err = err
			return
		}
		e.refs = refsAt(refs...)
		if e.dir, err = os.MkdirTemp("", "edgeimg-bench-"); err != nil {
			benchState.err = err
			return
		}
		c, err := cache.New(filepath.Join(e.dir, "cache"))
		if err != nil {
			benchState.err = err
			return
		}
		e.store = NewStore(c)
		res, err := Pull(context.Background(), e.store, e.refs, Options{Platform: "linux/amd64"})
		if err != nil {
			benchState.err = err
			return
		}
		e.images = res.Images
		seen := map[string]bool{}
		for _, im := range e.images {
			e.names += len(im.Names())
			for _, bl := range im.Blobs() {
				if !seen[bl.Digest.String()] {
					seen[bl.Digest.String()] = true
					e.bytes += bl.Size
				}
			}
		}
		e.root = filepath.Join(e.dir, "preloaded")
		if err := e.store.Preload(context.Background(), e.root, e.images, PreloadOptions{}); err != nil {
			benchState.err = err
			return
		}
		e.bundle = filepath.Join(e.dir, "images.tar")
		benchState.err = e.store.WriteBundleFile(e.bundle, e.images, false)
	})
	if benchState.err != nil {
		b.Fatal(benchState.err)
	}
	return benchState.env
}

// duBytes is the byte count of the regular files below root.
func duBytes(b testing.TB, root string) int64 {
	var n int64
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			fi, err := d.Info()
			if err != nil {
				return err
			}
			n += fi.Size()
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return n
}

const mib = 1 << 20

// BenchmarkSizes reports the bytes on the node: the preloaded store, the
// bundle, and a naive export of the same references (each image on its
// own, every platform: what saving each image with `crane pull --format
// oci` or `docker save` per image gives). Each iteration is one naive
// export.
func BenchmarkSizes(b *testing.B) {
	e := getBenchEnv(b)
	var naive int64
	for i := 0; i < b.N; i++ {
		naive = 0
		for j, r := range e.refs {
			dir := filepath.Join(e.dir, fmt.Sprintf("naive-%d-%d", i, j))
			ref, err := name.ParseReference(r.Ref)
			if err != nil {
				b.Fatal(err)
			}
			idx, err := remote.Index(ref)
			if err != nil {
				b.Fatal(err)
			}
			p, err := layout.Write(dir, empty.Index)
			if err != nil {
				b.Fatal(err)
			}
			if err := p.AppendIndex(idx); err != nil {
				b.Fatal(err)
			}
			naive += duBytes(b, dir)
			os.RemoveAll(dir)
		}
	}
	fi, err := os.Stat(e.bundle)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(duBytes(b, e.root))/mib, "MiB-preloaded-store")
	b.ReportMetric(float64(fi.Size())/mib, "MiB-bundle")
	b.ReportMetric(float64(naive)/mib, "MiB-naive-export")
	b.ReportMetric(float64(e.bytes)/mib, "MiB-distinct-blobs")
}

// BenchmarkWarmRebuild is a rebuild with a warm cache: pull (no network),
// preload, bundle.
func BenchmarkWarmRebuild(b *testing.B) {
	e := getBenchEnv(b)
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		before := e.reg.Requests.Load()
		res, err := Pull(ctx, e.store, e.refs, Options{Platform: "linux/amd64"})
		if err != nil {
			b.Fatal(err)
		}
		if n := e.reg.Requests.Load() - before; n != 0 || res.Fetched != 0 {
			b.Fatalf("warm pull: %d requests, %d blobs fetched", n, res.Fetched)
		}
		dir := filepath.Join(e.dir, fmt.Sprintf("rebuild-%d", i))
		if err := e.store.Preload(ctx, filepath.Join(dir, "root"), res.Images, PreloadOptions{}); err != nil {
			b.Fatal(err)
		}
		if err := e.store.WriteBundleFile(filepath.Join(dir, "images.tar"), res.Images, false); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

// BenchmarkColdPull pulls the stack for linux/amd64 into an empty store
// from the loopback registry, next to `crane pull --format oci
// --platform linux/amd64` of the same references (same registry, 4 jobs
// each).
func BenchmarkColdPull(b *testing.B) {
	e := getBenchEnv(b)
	ctx := context.Background()
	b.Run("edgeimg", func(b *testing.B) {
		b.SetBytes(e.bytes)
		for i := 0; i < b.N; i++ {
			c, err := cache.New(filepath.Join(e.dir, fmt.Sprintf("cold-%d", i)))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := Pull(ctx, NewStore(c), e.refs, Options{Platform: "linux/amd64", Jobs: 4}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			os.RemoveAll(c.Root)
			b.StartTimer()
		}
	})
	b.Run("crane", func(b *testing.B) {
		crane := craneBinary(b)
		b.SetBytes(e.bytes)
		for i := 0; i < b.N; i++ {
			dir := filepath.Join(e.dir, fmt.Sprintf("crane-%d", i))
			args := []string{"pull", "--format", "oci", "--platform", "linux/amd64", "--insecure"}
			for _, r := range e.refs {
				args = append(args, r.Ref)
			}
			cmd := exec.Command(crane, append(args, dir)...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("crane: %v\n%s", err, out)
			}
			b.StopTimer()
			os.RemoveAll(dir)
			b.StartTimer()
		}
	})
}

// craneBinary is crane as hack/bench/build-crane.sh builds it.
func craneBinary(b *testing.B) string {
	p := os.Getenv("EDGEIMG_CRANE")
	if p == "" {
		root := os.Getenv("EDGEIMG_CACHE")
		if root == "" {
			c, _ := os.UserCacheDir()
			root = filepath.Join(c, "edgeimg")
		}
		p = filepath.Join(root, "build", "crane-v0.22.1-"+runtime.Version(), "crane")
	}
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("EDGEIMG_CI") != "" {
			b.Fatalf("crane not built: run hack/bench/build-crane.sh (%s)", p)
		}
		b.Skipf("crane not built: run hack/bench/build-crane.sh (%s)", p)
	}
	return p
}

// startAndList starts containerd on root, imports the bundle (when set)
// with containerd's client.Import and WithSkipMissing as k0s does, and
// returns the time until every image name is listed.
func startAndList(b *testing.B, bin, root, bundle string, want int) time.Duration {
	b.Helper()
	start := time.Now()
	c, err := ctrd.Launch(bin, ctrd.Options{Root: root})
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		c.Stop()
		os.RemoveAll(c.Dir)
	}()
	ctx := context.Background()
	client, err := containerd.New(c.Address, containerd.WithDefaultNamespace(Namespace),
		containerd.WithDefaultPlatform(platforms.Only(platforms.DefaultSpec())))
	if err != nil {
		b.Fatal(err)
	}
	defer client.Close()
	if bundle != "" {
		f, err := os.Open(bundle)
		if err != nil {
			b.Fatal(err)
		}
		_, err = client.Import(ctx, f, containerd.WithSkipMissing())
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	imgs, err := client.ListImages(ctx)
	if err != nil {
		b.Fatal(err)
	}
	el := time.Since(start)
	if len(imgs) != want {
		b.Fatalf("%d images listed, want %d", len(imgs), want)
	}
	return el
}

// BenchmarkFirstStart is the start of a real containerd until every image
// is listed: on the preloaded store; on an empty root importing the
// bundle (k0s's first boot with <data-dir>/images); and on a root that
// already holds them, importing the bundle again (what k0s does on every
// later start).
func BenchmarkFirstStart(b *testing.B) {
	bin := ctrd.Need(b)
	e := getBenchEnv(b)
	b.Run("preloaded", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			root := filepath.Join(e.dir, "start-preloaded")
			copyTree(b, e.root, root)
			b.StartTimer()
			startAndList(b, bin, root, "", e.names)
			b.StopTimer()
			os.RemoveAll(root)
			b.StartTimer()
		}
	})
	b.Run("import-bundle-first-boot", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			root := filepath.Join(e.dir, "start-import")
			os.RemoveAll(root)
			b.StartTimer()
			startAndList(b, bin, root, e.bundle, e.names)
			b.StopTimer()
			os.RemoveAll(root)
			b.StartTimer()
		}
	})
	b.Run("import-bundle-reboot", func(b *testing.B) {
		b.StopTimer()
		root := filepath.Join(e.dir, "start-reimport")
		os.RemoveAll(root)
		startAndList(b, bin, root, e.bundle, e.names)
		b.StartTimer()
		for i := 0; i < b.N; i++ {
			startAndList(b, bin, root, e.bundle, e.names)
		}
		b.StopTimer()
		os.RemoveAll(root)
	})
}

// BenchmarkUnpack is what CRI's lazy unpack costs on the node, paid at
// the first container start of each image: every image of the preloaded
// store unpacked into overlayfs snapshots by the real daemon; it reports
// the snapshot bytes an unpack at build time would add to the image.
func BenchmarkUnpack(b *testing.B) {
	bin := ctrd.Need(b)
	e := getBenchEnv(b)
	var snap int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		root := filepath.Join(e.dir, "unpack")
		copyTree(b, e.root, root)
		c, err := ctrd.Launch(bin, ctrd.Options{Root: root})
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		client, err := containerd.New(c.Address, containerd.WithDefaultNamespace(Namespace))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for _, im := range e.images {
			img, err := client.GetImage(ctx, im.Pinned())
			if err != nil {
				b.Fatal(err)
			}
			if err := img.Unpack(ctx, "overlayfs"); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		client.Close()
		c.Stop()
		snap = duBytes(b, filepath.Join(root, "io.containerd.snapshotter.v1.overlayfs"))
		os.RemoveAll(c.Dir)
		os.RemoveAll(root)
		b.StartTimer()
	}
	b.ReportMetric(float64(snap)/mib, "MiB-snapshots")
}

func copyTree(b *testing.B, from, to string) {
	b.Helper()
	os.RemoveAll(to)
	if out, err := exec.Command("cp", "-a", from, to).CombinedOutput(); err != nil {
		b.Fatalf("cp: %v %s", err, out)
	}
}
