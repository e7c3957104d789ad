package kube

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/pkg/bundle"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// TestDryRunUpstreamStack server-side dry-runs the unmodified upstream
// Knative Serving core, Kourier and MetalLB release manifests against a real
// kube-apiserver: every object must be accepted.
func TestDryRunUpstreamStack(t *testing.T) {
	fx := testkit.FixturesDir(t)
	objs, err := parseObjectFiles(
		filepath.Join(fx, "knative-serving", "1.23.0", "serving-core.yaml"),
		filepath.Join(fx, "net-kourier", "1.23.0", "kourier.yaml"),
		filepath.Join(fx, "metallb", "v0.15.3", "metallb-native.yaml"),
	)
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) < 90 {
		t.Fatalf("parsed only %d objects from the three release files", len(objs))
	}
	srv := StartAPIServer(t)

	errs := DryRun(t, srv.Config, objs)
	for _, err := range errs {
		t.Errorf("rejected: %v", err)
	}
	t.Logf("%d objects, %d rejected", len(objs), len(errs))

	// CRDs and Namespaces were created for real, nothing else was stored.
	dyn := dynamic.NewForConfigOrDie(srv.Config)
	ctx := context.Background()
	crd := schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
	if _, err := dyn.Resource(crd).Get(ctx, "services.serving.knative.dev", metav1.GetOptions{}); err != nil {
		t.Errorf("CRD services.serving.knative.dev not created: %v", err)
	}
	cs := kubernetes.NewForConfigOrDie(srv.Config)
	for _, ns := range []string{"knative-serving", "kourier-system", "metallb-system"} {
		if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
			t.Errorf("namespace %s not created: %v", ns, err)
		}
	}
	if _, err := cs.AppsV1().Deployments("knative-serving").Get(ctx, "controller", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("Deployment knative-serving/controller: got %v, want NotFound (dry-run must not store it)", err)
	}
}

// TestDryRunRejects shows the dry-run really validates: each broken object
// comes back as an error naming it, and the good one passes.
func TestDryRunRejects(t *testing.T) {
	srv := StartAPIServer(t)

	// The kubeconfig works for a client built from the file alone.
	kc, err := clientcmd.BuildConfigFromFlags("", srv.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kubernetes.NewForConfigOrDie(kc).Discovery().ServerVersion(); err != nil {
		t.Fatalf("server version through %s: %v", srv.Kubeconfig, err)
	}

	const crd = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.edgeimg.io}
spec:
  group: example.edgeimg.io
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              size: {type: integer, minimum: 1}
`
	const good = `apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: example.edgeimg.io/v1
kind: Widget
metadata: {name: ok, namespace: shop}
spec: {size: 3}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: example.invalid/web@sha256:0000000000000000000000000000000000000000000000000000000000000000}]}
`
	bad := []struct{ doc, want string }{
		{`apiVersion: example.edgeimg.io/v1
kind: Widget
metadata: {name: tiny, namespace: shop}
spec: {size: 0}
`, "Widget shop/tiny"},
		{`apiVersion: apps/v1
kind: Deployment
metadata: {name: noselector, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: web}]}
`, "Deployment shop/noselector"},
		{`apiVersion: v1
kind: ConfigMap
metadata: {name: lost, namespace: nowhere}
`, "ConfigMap nowhere/lost"},
		{`apiVersion: v1
kind: ConfigMap
metadata: {name: nonamespace}
`, "ConfigMap nonamespace: namespaced kind without metadata.namespace"},
		{`apiVersion: example.edgeimg.io/v9
kind: Gadget
metadata: {name: g, namespace: shop}
`, "Gadget shop/g: no such kind"},
	}
	docs := crd + "---\n" + good
	for _, b := range bad {
		docs += "---\n" + b.doc
	}
	objs, err := bundle.ParseObjects("dry-run cases", []byte(docs))
	if err != nil {
		t.Fatal(err)
	}
	errs := DryRun(t, srv.Config, objs)
	if len(errs) != len(bad) {
		t.Errorf("%d rejections, want %d:", len(errs), len(bad))
		for _, e := range errs {
			t.Errorf("  %v", e)
		}
	}
	for _, b := range bad {
		found := false
		for _, e := range errs {
			found = found || strings.Contains(e.Error(), b.want)
		}
		if !found {
			t.Errorf("no rejection containing %q", b.want)
		}
	}
}

// BenchmarkStartAPIServer measures kine + kube-apiserver from start to
// /readyz (run with -benchtime=1x or a few x: each start takes seconds).
func BenchmarkStartAPIServer(b *testing.B) {
	testkit.Binary(b, "kine")
	testkit.Binary(b, "kube-apiserver")
	for i := 0; i < b.N; i++ {
		srv := StartAPIServer(b)
		b.StopTimer()
		srv.Stop()
		b.StartTimer()
	}
}

// BenchmarkDryRunUpstreamStack measures DryRun of the Knative Serving core,
// Kourier and MetalLB release manifests (98 objects) on a fresh server.
func BenchmarkDryRunUpstreamStack(b *testing.B) {
	fx := testkit.FixturesDir(b)
	objs, err := parseObjectFiles(
		filepath.Join(fx, "knative-serving", "1.23.0", "serving-core.yaml"),
		filepath.Join(fx, "net-kourier", "1.23.0", "kourier.yaml"),
		filepath.Join(fx, "metallb", "v0.15.3", "metallb-native.yaml"),
	)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		srv := StartAPIServer(b)
		b.StartTimer()
		if errs := DryRun(b, srv.Config, objs); len(errs) != 0 {
			b.Fatalf("%d rejections, first: %v", len(errs), errs[0])
		}
		b.StopTimer()
		srv.Stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(len(objs)), "objects")
}

// parseObjectFiles parses manifest files with the project's own parser
// (bundle.ParseObjects), in order; errors name the file.
func parseObjectFiles(paths ...string) ([]*unstructured.Unstructured, error) {
	var all []*unstructured.Unstructured
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		objs, err := bundle.ParseObjects(p, data)
		if err != nil {
			return nil, err
		}
		all = append(all, objs...)
	}
	return all, nil
}
