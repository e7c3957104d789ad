package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/internal/testkit/regtest"
)

func runImages(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	app := newApp()
	var out, errOut bytes.Buffer
	app.Writer, app.ErrWriter = &out, &errOut
	err := app.Run(append([]string{"edgeimg"}, args...))
	return out.String(), errOut.String(), err
}

func TestImagesCommands(t *testing.T) {
	reg := regtest.Start(t)
	fx := regtest.PushFixture(t, reg, "edge")
	dir := t.TempDir()
	manifests := filepath.Join(dir, "manifests", "app")
	os.MkdirAll(manifests, 0o755)
	yaml := `apiVersion: apps/v1
kind: Deployment
metadata: {name: app, namespace: edge}
spec:
  template:
    spec:
      containers: [{name: app, image: "` + fx.Hello + `"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: config-deployment, namespace: knative-serving}
data:
  queue-sidecar-image: "` + fx.Multi + `"
`
	if err := os.WriteFile(filepath.Join(manifests, "app.yaml"), []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cacheDir := filepath.Join(dir, "cache")
	common := []string{"--manifests", filepath.Join(dir, "manifests"), "--no-system-images", "--images-extra", fx.Sibling}

	out, _, err := runImages(t, append([]string{"--cache-dir", cacheDir, "images", "pull"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		reg.Host + "/edge/hello:v1@" + fx.HelloDigest,
		reg.Host + "/edge/multi:v1@" + fx.MultiDigest,
		reg.Host + "/edge/sibling:v1@" + fx.SiblingDigest,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("pull output lacks %s:\n%s", want, out)
		}
	}

	reg.Close() // everything below works from the cache
	out, _, err = runImages(t, append([]string{"--cache-dir", cacheDir, "images", "list", "--json"}, common...)...)
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Platform string
		Images   []struct {
			Ref, Digest string
			Locations   []struct{ Where, Field string }
		}
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	where := map[string]string{}
	for _, im := range list.Images {
		where[im.Ref] = im.Digest + " " + im.Locations[0].Where + " " + im.Locations[0].Field
	}
	if w := where[fx.Multi]; w != fx.MultiDigest+" app/app.yaml: ConfigMap knative-serving/config-deployment data.queue-sidecar-image" {
		t.Errorf("list: %s at %q", fx.Multi, w)
	}
	if w := where[fx.Sibling]; w != fx.SiblingDigest+" spec.images.extra[0] " {
		t.Errorf("list: %s at %q", fx.Sibling, w)
	}
	if list.Platform != "linux/amd64" || len(list.Images) != 3 {
		t.Errorf("list: %+v", list)
	}

	root := filepath.Join(dir, "containerd")
	if _, _, err := runImages(t, append([]string{"--cache-dir", cacheDir, "images", "preload", "--root", root}, common...)...); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "io.containerd.metadata.v1.bolt", "meta.db")); err != nil {
		t.Error(err)
	}
	tarPath := filepath.Join(dir, "images.tar")
	bundleArgs := append([]string{"--cache-dir", cacheDir, "images", "bundle", "-o", tarPath}, common...)
	if _, _, err := runImages(t, bundleArgs...); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runImages(t, bundleArgs...); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second bundle without --force: %v", err)
	}
	if _, _, err := runImages(t, append(bundleArgs, "--force")...); err != nil {
		t.Errorf("bundle --force: %v", err)
	}

}

// TestImagesListRenderedSpec lists the images of the default spec's
// rendered stacks (Serving, Kourier, MetalLB from the upstream fixtures,
// the hello Knative Service) and its k0s config.
func TestImagesListRenderedSpec(t *testing.T) {
	out, _, err := runImages(t, "--cache-dir", t.TempDir(), "images", "list", "--json", "--upstream", fixtures.Upstream(t))
	if err != nil {
		t.Fatal(err)
	}
	var list struct {
		Images []struct {
			Ref       string
			Locations []struct{ Where, Field string }
		}
		Warnings []struct{ Value, Reason string }
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	found := map[string][]string{}
	for _, im := range list.Images {
		for _, l := range im.Locations {
			found[im.Ref] = append(found[im.Ref], l.Where+" "+l.Field)
		}
	}
	queue := "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2"
	for ref, n := range map[string]int{
		queue: 2, // config-deployment and the caching Image
		"docker.io/envoyproxy/envoy:v1.37-latest": 1,
		"quay.io/metallb/speaker:v0.15.3":         1,
		"ghcr.io/knative/helloworld-go:latest":    1,
		"quay.io/k0sproject/pause:3.10.2-0":       1,
	} {
		if len(found[ref]) != n {
			t.Errorf("%s found at %q, want %d places", ref, found[ref], n)
		}
	}
	if len(list.Warnings) != 0 {
		t.Errorf("warnings: %+v", list.Warnings)
	}
}
