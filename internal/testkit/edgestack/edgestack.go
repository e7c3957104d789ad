package edgestack

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/ctrimage"
	"github.com/edgeimg/edgeimg/internal/testkit/k0s"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
	"github.com/edgeimg/edgeimg/pkg/airgap"
	"github.com/edgeimg/edgeimg/pkg/render"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// SpecYAML is the end-to-end harnesses' edgeimg.yaml over the embedded
// default (1 CPU / 1536Mi node, Knative Serving + Kourier 1.23.0, MetalLB
// v0.15.3, fit strategy). Changes: the bridge network (kube-router is not buildable
// here), kube-proxy leaving the conntrack sysctls alone (read-only in this
// sandbox), and the hello service at minScale 0 so it can scale to zero.
const SpecYAML = `apiVersion: edgeimg.io/v1alpha1
kind: Image
metadata:
  name: e2e
spec:
  k0s:
    network: bridge
    config:
      spec:
        network:
          kubeProxy:
            extraArgs:
              conntrack-max-per-core: "0"
  services:
    - name: hello
      namespace: default
      image: ghcr.io/knative/helloworld-go:latest
      env:
        TARGET: edgeimg
      minScale: 0
`

// imagesScript builds the programs packed into the images below.
const imagesScript = "hack/e2e-images.sh"

// component is one build of hack/e2e-images.sh.
type component struct {
	dir     string // the directory holding its binaries
	version string // the module version built
}

// builtComponents runs hack/e2e-images.sh for every component (a cached
// build answers in milliseconds) and returns them by name.
func builtComponents(t testing.TB) map[string]component {
	t.Helper()
	root := testkit.ModuleRoot(t)
	names := []string{"knative-serving", "metallb", "coredns", "metrics-server"}
	_, err := exec.LookPath("go")
	testkit.Require(t, err == nil, "go command not found")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("bash", append([]string{filepath.Join(root, imagesScript)}, names...)...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "EDGEIMG_CACHE="+testkit.CacheDir())
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err = cmd.Run()
	testkit.Require(t, err == nil, fmt.Sprintf("%s: %v\n%s", imagesScript, err, testkit.Tail(stderr.String(), 30)))
	if d := time.Since(start); d > 5*time.Second {
		t.Logf("built the e2e images' programs in %s", d.Round(time.Second))
	}
	dirs := strings.Fields(stdout.String())
	if len(dirs) != len(names) {
		t.Fatalf("%s printed %d directories for %d components: %q", imagesScript, len(dirs), len(names), stdout.String())
	}
	out := map[string]component{}
	for i, n := range names {
		recipe, err := os.ReadFile(filepath.Join(dirs[i], "RECIPE"))
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		f := strings.Fields(string(recipe))
		if len(f) < 2 {
			t.Fatalf("%s: RECIPE %q: want \"<module> <version> ...\"", n, recipe)
		}
		out[n] = component{dir: dirs[i], version: f[1]}
	}
	return out
}

// Image is one image the test builds and pushes in place of an
// upstream one.
type Image struct {
	// upstream is the repository the manifests or k0s name, as
	// go-containerregistry normalizes it.
	upstream string
	// repo and tag name it in the test registry.
	repo, tag string
	// standin marks images that do not run the upstream program.
	standin bool
	image   ctrimage.Image
}

// nonroot is the user ko's default base image runs as; Knative's
// Deployments require a numeric non-root user (runAsNonRoot).
const nonroot = "65532"

// Images builds every image the edge stack runs: the programs of
// hack/e2e-images.sh packed the way ko packs them (a static binary in one
// layer on a base layer with /etc/passwd and /etc/group, the linux/<arch>
// platform in the config), kube-proxy (k0s.KubeProxyImage), pause and
// the hello app (testdata/testimage), and the Kourier stand-ins
// (test/e2e/standin).
func Images(t testing.TB) []Image {
	t.Helper()
	comps := builtComponents(t)
	root := testkit.ModuleRoot(t)
	line, err := k0s.CurrentLine()
	if err != nil {
		t.Fatal(err)
	}
	app := testkit.BuildStaticBinary(t, filepath.Join(root, "internal", "testkit", "testdata", "testimage"))
	standin := testkit.BuildStaticBinary(t, filepath.Join(root, "test", "e2e", "standin"))
	base := baseFiles(t)

	binary := func(c, bin string) string {
		p := filepath.Join(comps[c].dir, bin)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		return p
	}
	ko := func(upstream, repo, tag, binPath, binName string, standin bool) Image {
		app := "/ko-app/" + binName
		return Image{upstream: upstream, repo: repo, tag: tag, standin: standin, image: ctrimage.Image{
			Files:      append([]ctrimage.File{{Path: app, Source: binPath}}, base...),
			Entrypoint: []string{app},
			Env: []string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin:/ko-app",
				"KO_DATA_PATH=/var/run/ko"},
			User: nonroot,
		}}
	}
	plain := func(upstream, repo, tag, binPath, path, user string) Image {
		return Image{upstream: upstream, repo: repo, tag: tag, image: ctrimage.Image{
			Files:      append([]ctrimage.File{{Path: path, Source: binPath}}, base...),
			Entrypoint: []string{path},
			Env:        []string{"PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"},
			User:       user,
		}}
	}

	const knativeRepo = "gcr.io/knative-releases/knative.dev/serving/cmd/"
	kv := comps["knative-serving"].version
	var out []Image
	for _, c := range []string{"activator", "autoscaler", "controller", "webhook", "queue"} {
		out = append(out, ko(knativeRepo+c, "knative/serving/"+c, kv, binary("knative-serving", c), c, false))
	}
	mv := comps["metallb"].version
	out = append(out,
		// MetalLB's images are distroless static, user root; its
		// Deployment sets runAsUser.
		plain("quay.io/metallb/controller", "metallb/controller", mv, binary("metallb", "controller"), "/controller", ""),
		plain("quay.io/metallb/speaker", "metallb/speaker", mv, binary("metallb", "speaker"), "/speaker", ""),
		// The user k0s's CoreDNS Deployment of the line needs
		// (k0s.Line.CoreDNSUser).
		plain("quay.io/k0sproject/coredns", "k0sproject/coredns", comps["coredns"].version, binary("coredns", "coredns"), "/coredns", line.CoreDNSUser),
		// metrics-server's upstream image runs as 65534; k0s sets runAsUser 1000.
		plain("quay.io/k0sproject/metrics-server", "k0sproject/metrics-server", comps["metrics-server"].version, binary("metrics-server", "metrics-server"), "/metrics-server", "65534"),
		Image{upstream: "quay.io/k0sproject/pause", repo: "k0sproject/pause", tag: "3.10.1", image: ctrimage.Image{
			Binary: app, Entrypoint: []string{"/testimage", "pause"}}},
		// The k0s line's kube-proxy (hack/build-bins.sh builds the line's
		// Kubernetes), mapped by repository whatever tag k0s.yaml names.
		Image{upstream: "quay.io/k0sproject/kube-proxy", repo: "k0sproject/kube-proxy", tag: line.Kubernetes,
			image: k0s.KubeProxyImage(t, "quay.io/k0sproject/kube-proxy:"+line.Kubernetes)},
		Image{upstream: "ghcr.io/knative/helloworld-go", repo: "hello", tag: "testimage", image: ctrimage.Image{
			Binary: app, Env: []string{"PATH=/"}}},
		// Stand-ins (see package standin): not Kourier.
		ko("gcr.io/knative-releases/knative.dev/net-kourier/cmd/kourier", "standin/net-kourier-controller", "standin", standin, "kourier", true),
		Image{upstream: "docker.io/envoyproxy/envoy", repo: "standin/kourier-gateway", tag: "standin", standin: true,
			image: ctrimage.Image{
				Files:      append([]ctrimage.File{{Path: "/usr/local/bin/envoy", Source: standin}}, base...),
				Entrypoint: []string{"/usr/local/bin/envoy"},
			}},
	)
	for i := range out {
		repo, err := name.NewRepository(out[i].upstream)
		if err != nil {
			t.Fatal(err)
		}
		out[i].upstream = repo.Name()
	}
	return out
}

// baseFiles are the base layer's /etc/passwd and /etc/group: root, the
// nonroot user of distroless images, nobody.
func baseFiles(t testing.TB) []ctrimage.File {
	t.Helper()
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	group := filepath.Join(dir, "group")
	if err := os.WriteFile(passwd, []byte("root:x:0:0:root:/root:/sbin/nologin\n"+
		"nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n"+
		"nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(group, []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return []ctrimage.File{{Path: "/etc/passwd", Source: passwd}, {Path: "/etc/group", Source: group}}
}

// Push packs every image and pushes it to the registry; it returns
// each image's reference there, by upstream repository.
func Push(t testing.TB, reg *regtest.Registry, imgs []Image) map[string]string {
	t.Helper()
	refs := map[string]string{}
	for _, li := range imgs {
		img, err := li.image.Image()
		if err != nil {
			t.Fatalf("image %s: %v", li.repo, err)
		}
		ref := reg.Ref("e2e/" + li.repo + ":" + li.tag)
		regtest.Push(t, ref, img)
		refs[li.upstream] = ref
	}
	return refs
}

// ReplaceMap is spec.images.replace for the references the rendered stacks
// and the k0s config name: each whole reference as found (Knative's carry
// upstream digests, which the images built here cannot match) mapped to
// the image built here for its repository. A reference with no image built
// here fails the test, naming it: the manifests grew an image.
func ReplaceMap(t testing.TB, found []airgap.Ref, local map[string]string) map[string]string {
	t.Helper()
	out := map[string]string{}
	var missing []string
	for _, r := range found {
		ref, err := name.ParseReference(r.Ref)
		if err != nil {
			t.Fatalf("image %s: %v", r.Ref, err)
		}
		to, ok := local[ref.Context().Name()]
		if !ok {
			missing = append(missing, fmt.Sprintf("%s (found at %s)", r.Ref, r.Locations))
			continue
		}
		out[r.Ref] = to
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		t.Fatalf("no image is built here for:\n  %s", strings.Join(missing, "\n  "))
	}
	return out
}

// MapImages points doc at the images built here: a first rendering
// (upstream manifests from fixtures) finds the references the stacks and
// the k0s config name, spec.images.replace maps each to the image pushed
// to reg (local, from Push), reg is trusted without TLS, and the spec is
// validated again. It returns that first rendering.
func MapImages(ctx context.Context, t testing.TB, doc *spec.Document, fixtures string, reg *regtest.Registry, local map[string]string) *render.Result {
	t.Helper()
	first, err := render.NodeConfig(ctx, doc, render.Options{Upstream: fixtures})
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	found, _ := airgap.Find(first.Bundle.Objects(), doc.Spec.Images.Extra, first.K0s.SystemImages())
	doc.Spec.Images.Replace = ReplaceMap(t, found, local)
	doc.Spec.Images.InsecureRegistries = []string{reg.Host}
	if err := doc.Validate(); err != nil {
		t.Fatalf("spec: %v", err)
	}
	return first
}
