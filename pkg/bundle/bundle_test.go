package bundle

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/pkg/spec"
	"github.com/edgeimg/edgeimg/pkg/upstream"
)

func render(t *testing.T, mod func(*spec.Document)) *Result {
	t.Helper()
	d := spec.Default()
	if mod != nil {
		mod(d)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	res, err := Stacks(context.Background(), d, Options{Source: &upstream.Source{Dir: fixtures.Upstream(t)}})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// upstreamObjects parses the three release files as released.
func upstreamObjects(t *testing.T) map[key]*unstructured.Unstructured {
	t.Helper()
	out := map[key]*unstructured.Unstructured{}
	for _, f := range []string{
		"knative-serving/1.23.0/serving-core.yaml",
		"net-kourier/1.23.0/kourier.yaml",
		"metallb/v0.15.3/metallb-native.yaml",
	} {
		data, err := os.ReadFile(filepath.Join(fixtures.Upstream(t), f))
		if err != nil {
			t.Fatal(err)
		}
		objs, err := ParseObjects(f, data)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			out[keyOf(o)] = o
		}
	}
	return out
}

func TestRenderKeepsEveryUpstreamObjectOnce(t *testing.T) {
	res := render(t, nil)
	orig := upstreamObjects(t)
	got := map[key]int{}
	for _, o := range res.Bundle.Objects() {
		got[keyOf(o.Obj)]++
	}
	for k := range orig {
		if got[k] != 1 {
			t.Errorf("%s appears %d times, want exactly once", k, got[k])
		}
	}
	for k, n := range got {
		if _, ok := orig[k]; !ok && n > 0 {
			switch k.gk.Kind {
			case "IPAddressPool", "L2Advertisement", "Service": // ours: MetalLB pool, the hello ksvc
			default:
				t.Errorf("unexpected object %s", k)
			}
		}
	}
}

func TestRenderEdits(t *testing.T) {
	res := render(t, nil)
	find := func(kind, ns, name string) *unstructured.Unstructured {
		for _, o := range res.Bundle.Objects() {
			if o.Obj.GetKind() == kind && o.Obj.GetNamespace() == ns && o.Obj.GetName() == name {
				return o.Obj
			}
		}
		t.Fatalf("%s %s/%s not in the bundle", kind, ns, name)
		return nil
	}
	str := func(o *unstructured.Unstructured, path ...string) string {
		v, _, _ := unstructured.NestedString(o.Object, path...)
		return v
	}
	if got := str(find("ConfigMap", "knative-serving", "config-network"), "data", "ingress-class"); got != kourierIngressClass {
		t.Errorf("config-network ingress-class = %q", got)
	}
	dom := find("ConfigMap", "knative-serving", "config-domain")
	if _, ok, _ := unstructured.NestedString(dom.Object, "data", "192.168.10.240.sslip.io"); !ok {
		t.Errorf("config-domain lacks 192.168.10.240.sslip.io: %v", dom.Object["data"])
	}
	if got := find("Service", "kourier-system", "kourier").GetAnnotations()[metallbLBIPs]; got != "192.168.10.240" {
		t.Errorf("kourier LB address = %q", got)
	}
	for _, name := range []string{"activator", "webhook"} {
		hpa := find("HorizontalPodAutoscaler", "knative-serving", name)
		lo, _, _ := unstructured.NestedInt64(hpa.Object, "spec", "minReplicas")
		hi, _, _ := unstructured.NestedInt64(hpa.Object, "spec", "maxReplicas")
		if lo != 1 || hi != 1 {
			t.Errorf("HPA %s = %d-%d, want 1-1", name, lo, hi)
		}
		pdb := find("PodDisruptionBudget", "knative-serving", name+"-pdb")
		if _, has, _ := unstructured.NestedFieldNoCopy(pdb.Object, "spec", "minAvailable"); has {
			t.Errorf("PDB %s-pdb still has minAvailable", name)
		}
		if n, _, _ := unstructured.NestedInt64(pdb.Object, "spec", "maxUnavailable"); n != 1 {
			t.Errorf("PDB %s-pdb maxUnavailable = %d", name, n)
		}
		if n, _, _ := unstructured.NestedInt64(find("Deployment", "knative-serving", name).Object, "spec", "replicas"); n != 1 {
			t.Errorf("Deployment %s replicas = %d", name, n)
		}
	}
	// Fitted requests are written back and match the plan.
	act := find("Deployment", "knative-serving", "activator")
	cs, _, _ := unstructured.NestedSlice(act.Object, "spec", "template", "spec", "containers")
	c := cs[0].(map[string]any)
	w, _ := res.Plan.Lookup("knative-serving", "activator", "activator")
	if got := c["resources"].(map[string]any)["requests"].(map[string]any)["cpu"]; got != formatQuantity("cpu", w.Requests.CPUMilli) || w.Requests.CPUMilli >= 300 {
		t.Errorf("activator cpu request = %v, plan %dm", got, w.Requests.CPUMilli)
	}
	if c["imagePullPolicy"] != "IfNotPresent" {
		t.Errorf("activator imagePullPolicy = %v", c["imagePullPolicy"])
	}
	if got := str(find("ConfigMap", "knative-serving", "config-deployment"), "data", "queue-sidecar-cpu-request"); got == "" || got != formatQuantity("cpu", res.Plan.QueueProxyCPURequestMilli) {
		t.Errorf("queue-sidecar-cpu-request = %q, plan %dm", got, res.Plan.QueueProxyCPURequestMilli)
	}
}

func TestRenderLeavesExamplesAlone(t *testing.T) {
	res := render(t, nil)
	orig := upstreamObjects(t)
	for _, o := range res.Bundle.Objects() {
		if o.Obj.GetKind() != "ConfigMap" {
			continue
		}
		u, ok := orig[keyOf(o.Obj)]
		if !ok {
			continue
		}
		a, _, _ := unstructured.NestedString(u.Object, "data", "_example")
		b, _, _ := unstructured.NestedString(o.Obj.Object, "data", "_example")
		if a != b {
			t.Errorf("%s: _example changed", o.Where())
		}
		if u.GetAnnotations()["knative.dev/example-checksum"] != o.Obj.GetAnnotations()["knative.dev/example-checksum"] {
			t.Errorf("%s: example-checksum changed", o.Where())
		}
	}
}

func TestRenderStagesWebhookGuardedObjects(t *testing.T) {
	res := render(t, nil)
	live, staged := res.Bundle.StackNames()
	if want := []string{StackKnativeServing, StackKourier, StackMetalLB}; !reflect.DeepEqual(live, want) {
		t.Errorf("live stacks = %v, want %v", live, want)
	}
	gates := map[string][]string{}
	kinds := map[string][]string{}
	for _, s := range res.Bundle.Staged {
		gates[s.Name] = s.Gate
		for _, f := range s.Files {
			for _, o := range f.Objects {
				kinds[s.Name] = append(kinds[s.Name], o.GetKind()+"/"+o.GetName())
			}
		}
	}
	want := map[string][]string{
		"knative-serving-staged": {"Certificate/routing-serving-certs"},
		StackMetalLBConfig:       {"IPAddressPool/edgeimg", "L2Advertisement/edgeimg"},
		StackServices:            {"Service/hello"},
	}
	if !reflect.DeepEqual(kinds, want) {
		t.Errorf("staged = %v, want %v (staged stacks %v)", kinds, want, staged)
	}
	wantGates := map[string][]string{
		"knative-serving-staged": {"knative-serving/webhook"},
		StackMetalLBConfig:       {"metallb-system/controller"},
		StackServices:            {"knative-serving/webhook"},
	}
	if !reflect.DeepEqual(gates, wantGates) {
		t.Errorf("gates = %v, want %v", gates, wantGates)
	}
}

func TestRenderNamespacesAndStackNames(t *testing.T) {
	res := render(t, nil)
	sc := scopesOf(res.Bundle.allObjects())
	for _, o := range res.Bundle.Objects() {
		if !sc.clusterScoped(o.Obj) && o.Obj.GetNamespace() == "" {
			t.Errorf("%s: namespaced object without a namespace", o.Where())
		}
		if slices.Contains(ReservedStackNames, o.Stack) {
			t.Errorf("%s: stack name is k0s's", o.Where())
		}
	}
}

func TestRenderHelloService(t *testing.T) {
	res := render(t, nil)
	for _, o := range res.Bundle.Objects() {
		if o.Obj.GetKind() != "Service" || o.Obj.GetAPIVersion() != "serving.knative.dev/v1" {
			continue
		}
		ann, _, _ := unstructured.NestedStringMap(o.Obj.Object, "spec", "template", "metadata", "annotations")
		if ann["autoscaling.knative.dev/min-scale"] != "1" {
			t.Errorf("hello min-scale = %q", ann["autoscaling.knative.dev/min-scale"])
		}
		cs, _, _ := unstructured.NestedSlice(o.Obj.Object, "spec", "template", "spec", "containers")
		c := cs[0].(map[string]any)
		env := c["env"].([]any)[0].(map[string]any)
		if c["image"] != "ghcr.io/knative/helloworld-go:latest" || env["name"] != "TARGET" || o.Obj.GetNamespace() != "default" {
			t.Errorf("hello = %v", o.Obj.Object)
		}
		return
	}
	t.Error("no Knative Service rendered")
}

func TestRenderWithoutServicesOrDomain(t *testing.T) {
	res := render(t, func(d *spec.Document) {
		d.Spec.Services = nil
		d.Spec.Knative.Domain = "edge.example.com"
	})
	_, staged := res.Bundle.StackNames()
	if slices.Contains(staged, StackServices) {
		t.Error("a services stack without services")
	}
	if res.Domain != "edge.example.com" {
		t.Errorf("domain = %q", res.Domain)
	}
}

func TestRenderErrors(t *testing.T) {
	dir := t.TempDir()
	src := fixtures.Upstream(t)
	copyFile := func(rel string, edit func([]byte) []byte) {
		data, err := os.ReadFile(filepath.Join(src, rel))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, edit(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	same := func(b []byte) []byte { return b }
	copyFile("knative-serving/1.23.0/serving-core.yaml", same)
	copyFile("metallb/v0.15.3/metallb-native.yaml", same)
	// A Kourier version outside the catalog, with a namespaced object
	// lacking its namespace.
	copyFile("net-kourier/1.23.0/kourier.yaml", func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "  namespace: kourier-system\n", "", 1))
	})
	os.Rename(filepath.Join(dir, "net-kourier/1.23.0"), filepath.Join(dir, "net-kourier/1.24.0"))

	tests := []struct {
		name string
		mod  func(*spec.Document)
		want string
	}{
		{"missing file", func(d *spec.Document) { d.Spec.Knative.Version = "1.99.0" }, filepath.Join(dir, "knative-serving/1.99.0/serving-core.yaml")},
		{"missing namespace", func(d *spec.Document) { d.Spec.Kourier.Version = "1.24.0" }, "metadata.namespace: empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := spec.Default()
			tt.mod(d)
			_, err := Stacks(context.Background(), d, Options{Source: &upstream.Source{Dir: dir}})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestPayloadLayout(t *testing.T) {
	res := render(t, nil)
	p, err := res.Bundle.Payload(Layout{})
	if err != nil {
		t.Fatal(err)
	}
	paths := map[string]string{}
	for _, f := range p.Files {
		paths[f.Path] = string(f.Data)
	}
	for _, want := range []string{
		"/var/lib/k0s/manifests/knative-serving/serving-core.yaml",
		"/var/lib/k0s/manifests/kourier/kourier.yaml",
		"/var/lib/k0s/manifests/metallb/metallb-native.yaml",
		"/var/lib/edgeimg/staged/metallb-config/metallb-config.yaml",
		"/var/lib/edgeimg/staged/metallb-config/gates",
		"/var/lib/edgeimg/staged/knative-services/services.yaml",
		PromoterPath, PromoterUnitPath,
	} {
		if _, ok := paths[want]; !ok {
			t.Errorf("payload lacks %s", want)
		}
	}
	if got := paths["/var/lib/edgeimg/staged/metallb-config/objects"]; got != "ipaddresspools.metallb.io metallb-system edgeimg\nl2advertisements.metallb.io metallb-system edgeimg\n" {
		t.Errorf("objects file = %q", got)
	}
	// What is written parses back to the same objects.
	back, err := ParseObjects("serving-core.yaml", []byte(paths["/var/lib/k0s/manifests/knative-serving/serving-core.yaml"]))
	if err != nil {
		t.Fatal(err)
	}
	if len(back) != len(res.Bundle.Stacks[0].Files[0].Objects) {
		t.Errorf("serving-core.yaml holds %d objects, the stack %d", len(back), len(res.Bundle.Stacks[0].Files[0].Objects))
	}
	// Rendering is deterministic.
	p2, _ := render(t, nil).Bundle.Payload(Layout{})
	for i := range p.Files {
		if p.Files[i].SHA256 != p2.Files[i].SHA256 {
			t.Errorf("%s differs between two renders", p.Files[i].Path)
		}
	}
	// A non-default data dir moves the stacks and tells the promoter.
	p3, _ := res.Bundle.Payload(Layout{DataDir: "/srv/k0s"})
	found := false
	for _, f := range p3.Files {
		if f.Path == PromoterUnitPath {
			found = strings.Contains(string(f.Data), "Environment=K0S_DATA_DIR=/srv/k0s")
		}
		if strings.HasPrefix(f.Path, "/var/lib/k0s/") {
			t.Errorf("%s with data dir /srv/k0s", f.Path)
		}
	}
	if !found {
		t.Error("promoter unit does not carry the data dir")
	}
}

func TestParseObjects(t *testing.T) {
	tests := []struct {
		name, in string
		kinds    []string
		wantErr  string
	}{
		{name: "documents and empty ones", in: "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n# only a comment\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: b, namespace: a}\n",
			kinds: []string{"Namespace", "ConfigMap"}},
		{name: "json", in: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, kinds: []string{"Secret"}},
		{name: "integers stay integers", in: "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d, namespace: n}\nspec: {replicas: 3}\n", kinds: []string{"Deployment"}},
		{name: "missing kind", in: "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nmetadata: {name: b}\n", wantErr: "in.yaml: document 2"},
		{name: "missing apiVersion", in: "kind: Namespace\nmetadata: {name: a}\n", wantErr: "in.yaml: document 1 (Namespace): apiVersion: empty"},
		{name: "missing name", in: "apiVersion: v1\nkind: Namespace\nmetadata: {}\n", wantErr: "metadata.name: empty"},
		{name: "bad yaml", in: "apiVersion: v1\nkind: [\n", wantErr: "in.yaml: document 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := ParseObjects("in.yaml", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, o := range objs {
				kinds = append(kinds, o.GetKind())
				if n, found, err := unstructured.NestedInt64(o.Object, "spec", "replicas"); found && (err != nil || n != 3) {
					t.Errorf("replicas = %d, %v: want int64 3", n, err)
				}
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
				t.Fatalf("kinds = %v, want %v", kinds, tt.kinds)
			}
		})
	}
}

// TestRenderKubernetesMinVersion: spec.knative.kubernetesMinVersion sets
// knative.dev/pkg's KUBERNETES_MIN_VERSION on every container of Knative
// Serving's and Kourier's Deployments, and on nothing else; unset, on
// nothing.
func TestRenderKubernetesMinVersion(t *testing.T) {
	for _, tc := range []struct {
		minVer, want string
	}{{"", ""}, {"1.33", "v1.33.0"}} {
		res := render(t, func(d *spec.Document) { d.Spec.Knative.KubernetesMinVersion = tc.minVer })
		set, deployments := 0, 0
		for _, st := range append(append([]*Stack{}, res.Bundle.Stacks...), res.Bundle.Staged...) {
			for _, f := range st.Files {
				for _, o := range f.Objects {
					if o.GetKind() != "Deployment" {
						continue
					}
					ours := st.Name == StackKnativeServing || st.Name == StackKourier
					if ours {
						deployments++
					}
					err := forEachContainer(o, func(c map[string]any, _ containerList) error {
						env, _ := c["env"].([]any)
						for _, e := range env {
							m, _ := e.(map[string]any)
							if m["name"] != "KUBERNETES_MIN_VERSION" {
								continue
							}
							if !ours || m["value"] != tc.want {
								t.Errorf("%s %s/%s container %v: KUBERNETES_MIN_VERSION=%v, want %q only in Knative and Kourier", st.Name, o.GetNamespace(), o.GetName(), c["name"], m["value"], tc.want)
							}
							set++
						}
						return nil
					})
					if err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		if tc.want == "" && set != 0 || tc.want != "" && set < deployments {
			t.Errorf("kubernetesMinVersion %q: set on %d containers of %d Knative/Kourier Deployments", tc.minVer, set, deployments)
		}
	}
}
