package airgap

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	k0sairgap "github.com/k0sproject/k0s/pkg/airgap"
	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/edgeimg/edgeimg/pkg/bundle"
)

const (
	queueRef  = "gcr.io/knative-releases/knative.dev/serving/cmd/queue@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2"
	envoyRef  = "docker.io/envoyproxy/envoy:v1.37-latest"
	kourRef   = "gcr.io/knative-releases/knative.dev/net-kourier/cmd/kourier@sha256:eedfe3938f1efa93230863099f96400a0567909d383a585021f8727fa3a6cf0b"
	servingGR = "gcr.io/knative-releases/knative.dev/serving/cmd/"
)

// TestFindUpstreamFixtures runs Find over the real Serving 1.23, Kourier
// 1.23 and MetalLB 0.15.3 release manifests.
func TestFindUpstreamFixtures(t *testing.T) {
	objs := fixtureObjects(t,
		"knative-serving/1.23.0/serving-crds.yaml",
		"knative-serving/1.23.0/serving-core.yaml",
		"knative-serving/1.23.0/serving-hpa.yaml",
		"knative-serving/1.23.0/serving-post-install-jobs.yaml",
		"knative-serving/1.23.0/default-domain.source.ko.yaml",
		"net-kourier/1.23.0/kourier.yaml",
		"metallb/v0.15.3/metallb-native.yaml",
	)
	// k0s's own list for its default config (what `k0s airgap
	// list-images` prints), pause included.
	system := k0sairgap.GetImageURIs(v1beta1.DefaultClusterSpec(), false)
	if !slices.Contains(system, "quay.io/k0sproject/pause:3.10.1") {
		t.Fatalf("k0s system images %v lack pause 3.10.1", system)
	}
	refs, warnings := Find(objs, []string{"ghcr.io/knative/helloworld-go:latest"}, system)

	got := map[string][]string{}
	locations := 0
	for _, r := range refs {
		for _, l := range r.Locations {
			got[r.Ref] = append(got[r.Ref], l.String())
		}
		locations += len(r.Locations)
	}
	want := map[string][]string{
		servingGR + "activator@sha256:e5ab46f3b73fa2e3898fe47f6a3a0c2bd765596f4fb36ceb4c28c35d0a74b2e5": {
			"knative-serving/serving-core.yaml: Deployment knative-serving/activator: spec.template.spec.containers[activator].image"},
		servingGR + "autoscaler@sha256:879da127b23db65d862cafa6b23fb987381d0e44150f0027d44e1f5aee83bde2": {
			"knative-serving/serving-core.yaml: Deployment knative-serving/autoscaler: spec.template.spec.containers[autoscaler].image"},
		servingGR + "controller@sha256:ca5062ece0329d002a81940cf4268d7898866434d70049bb93f27d3a786d3292": {
			"knative-serving/serving-core.yaml: Deployment knative-serving/controller: spec.template.spec.containers[controller].image"},
		servingGR + "webhook@sha256:3846e9a416665c5b9ec2e4de246cfcb5c4ab0d01ba19348aa008caf30144b650": {
			"knative-serving/serving-core.yaml: Deployment knative-serving/webhook: spec.template.spec.containers[webhook].image"},
		queueRef: {
			"knative-serving/serving-core.yaml: Image knative-serving/queue-proxy: spec.image",
			"knative-serving/serving-core.yaml: ConfigMap knative-serving/config-deployment: data.queue-sidecar-image"},
		servingGR + "autoscaler-hpa@sha256:e2494132a71c23587ac8dd25bc5288f70261e592285487e1d19f8dea1f896133": {
			"knative-serving/serving-hpa.yaml: Deployment knative-serving/autoscaler-hpa: spec.template.spec.containers[autoscaler-hpa].image"},
		"gcr.io/knative-releases/knative.dev/pkg/apiextensions/storageversion/cmd/migrate@sha256:2016f5ede9fb269c7cdf0085ff106844dfa36e42a4d768e0a2f51464928a0c2d": {
			"knative-serving/serving-post-install-jobs.yaml: Job knative-serving/: spec.template.spec.containers[migrate].image"},
		"gcr.io/knative-releases/knative.dev/serving/pkg/cleanup/cmd/cleanup@sha256:78fbd3df14986cd4831a22e7c2703a3b4f58a6e93cacd6ffbf18b3c787af0c71": {
			"knative-serving/serving-post-install-jobs.yaml: Job knative-serving/: spec.template.spec.containers[cleanup].image"},
		"ko://knative.dev/serving/cmd/default-domain": {
			"knative-serving/default-domain.source.ko.yaml: Job knative-serving/default-domain: spec.template.spec.containers[default-domain].image"},
		kourRef: {
			"net-kourier/kourier.yaml: Deployment knative-serving/net-kourier-controller: spec.template.spec.containers[controller].image"},
		envoyRef: {
			"net-kourier/kourier.yaml: Deployment kourier-system/3scale-kourier-gateway: spec.template.spec.containers[kourier-gateway].image"},
		"quay.io/metallb/controller:v0.15.3": {
			"metallb/metallb-native.yaml: Deployment metallb-system/controller: spec.template.spec.containers[controller].image"},
		"quay.io/metallb/speaker:v0.15.3": {
			"metallb/metallb-native.yaml: DaemonSet metallb-system/speaker: spec.template.spec.containers[speaker].image"},
		"ghcr.io/knative/helloworld-go:latest": {"spec.images.extra[0]"},
	}
	for _, s := range system {
		want[s] = []string{"k0s system images"}
	}
	if !reflect.DeepEqual(got, want) {
		for k, v := range got {
			if !reflect.DeepEqual(want[k], v) {
				t.Errorf("found %s at %q, want %q", k, v, want[k])
			}
		}
		for k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("missing %s", k)
			}
		}
	}
	// Serving 1.23 (core, hpa, post-install, the default-domain Job) and
	// Kourier write 12 image references.
	servingKourier := 0
	for _, r := range refs {
		for _, l := range r.Locations {
			if strings.HasPrefix(l.Where, "knative-serving/") || strings.HasPrefix(l.Where, "net-kourier/") {
				servingKourier++
			}
		}
	}
	if servingKourier != 12 {
		t.Errorf("Serving + Kourier image references: %d, want 12", servingKourier)
	}
	if !slices.IsSortedFunc(refs, func(a, b Ref) int { return strings.Compare(a.Ref, b.Ref) }) {
		t.Error("refs are not sorted")
	}
	// The ko:// source image is the only warning: no stray strings in the
	// upstream files (CRD schemas, _example blocks) look like images.
	if len(warnings) != 1 || warnings[0].Value != "ko://knative.dev/serving/cmd/default-domain" ||
		!strings.Contains(warnings[0].Reason, "invalid reference format") {
		t.Errorf("warnings = %v, want one for the ko:// image", warnings)
	}
	if want := 12 + 2 + 1 + len(system); locations != want {
		t.Errorf("%d locations, want %d", locations, want)
	}
}

func objectsFromYAML(t *testing.T, docs ...string) []bundle.Object {
	t.Helper()
	var out []bundle.Object
	for i, d := range docs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(d), &m); err != nil {
			t.Fatalf("doc %d: %v", i, err)
		}
		out = append(out, bundle.Object{Stack: "s", File: "f.yaml", Obj: &unstructured.Unstructured{Object: m}})
	}
	return out
}

func TestFindKinds(t *testing.T) {
	tests := []struct {
		name     string
		doc      string
		want     map[string]string // ref → field
		warnings []string          // values warned about
	}{
		{"pod with init and ephemeral containers", `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
spec:
  initContainers: [{name: init, image: "example.com/init:1"}]
  containers: [{name: app, image: "example.com/app:1"}, {image: "example.com/noname:1"}]
  ephemeralContainers: [{name: debug, image: "example.com/debug:1"}]`,
			map[string]string{
				"example.com/init:1":   "spec.initContainers[init].image",
				"example.com/app:1":    "spec.containers[app].image",
				"example.com/noname:1": "spec.containers[1].image",
				"example.com/debug:1":  "spec.ephemeralContainers[debug].image",
			}, nil},
		{"deployment", `
apiVersion: apps/v1
kind: Deployment
metadata: {name: d, namespace: ns}
spec: {template: {spec: {containers: [{name: c, image: "nginx:1.25"}]}}}`,
			map[string]string{"nginx:1.25": "spec.template.spec.containers[c].image"}, nil},
		{"statefulset", `
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: s, namespace: ns}
spec: {template: {spec: {initContainers: [{name: i, image: "example.com/i:1"}], containers: [{name: c, image: "example.com/s:1"}]}}}`,
			map[string]string{"example.com/i:1": "spec.template.spec.initContainers[i].image", "example.com/s:1": "spec.template.spec.containers[c].image"}, nil},
		{"daemonset", `
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: ds, namespace: ns}
spec: {template: {spec: {containers: [{name: c, image: "example.com/ds:1"}]}}}`,
			map[string]string{"example.com/ds:1": "spec.template.spec.containers[c].image"}, nil},
		{"replicaset", `
apiVersion: apps/v1
kind: ReplicaSet
metadata: {name: rs, namespace: ns}
spec: {template: {spec: {containers: [{name: c, image: "example.com/rs:1"}]}}}`,
			map[string]string{"example.com/rs:1": "spec.template.spec.containers[c].image"}, nil},
		{"job", `
apiVersion: batch/v1
kind: Job
metadata: {name: j, namespace: ns}
spec: {template: {spec: {containers: [{name: c, image: "example.com/job:1"}]}}}`,
			map[string]string{"example.com/job:1": "spec.template.spec.containers[c].image"}, nil},
		{"cronjob", `
apiVersion: batch/v1
kind: CronJob
metadata: {name: cj, namespace: ns}
spec: {schedule: "* * * * *", jobTemplate: {spec: {template: {spec: {containers: [{name: c, image: "example.com/cron:1"}]}}}}}`,
			map[string]string{"example.com/cron:1": "spec.jobTemplate.spec.template.spec.containers[c].image"}, nil},
		{"knative service", `
apiVersion: serving.knative.dev/v1
kind: Service
metadata: {name: hello, namespace: default}
spec: {template: {spec: {containers: [{image: "ghcr.io/knative/helloworld-go:latest"}]}}}`,
			map[string]string{"ghcr.io/knative/helloworld-go:latest": "spec.template.spec.containers[0].image"}, nil},
		{"knative configuration", `
apiVersion: serving.knative.dev/v1
kind: Configuration
metadata: {name: c, namespace: default}
spec: {template: {spec: {containers: [{image: "example.com/conf:1"}]}}}`,
			map[string]string{"example.com/conf:1": "spec.template.spec.containers[0].image"}, nil},
		{"knative revision", `
apiVersion: serving.knative.dev/v1
kind: Revision
metadata: {name: r, namespace: default}
spec: {containers: [{image: "example.com/rev:1"}]}`,
			map[string]string{"example.com/rev:1": "spec.containers[0].image"}, nil},
		{"config-deployment", `
apiVersion: v1
kind: ConfigMap
metadata: {name: config-deployment, namespace: knative-serving}
data: {queue-sidecar-image: "example.com/queue:1", registries-skipping-tag-resolving: "kind.local"}`,
			map[string]string{"example.com/queue:1": "data.queue-sidecar-image"}, nil},
		{"caching image", `
apiVersion: caching.internal.knative.dev/v1alpha1
kind: Image
metadata: {name: queue-proxy, namespace: knative-serving}
spec: {image: "example.com/queue@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2"}`,
			map[string]string{"example.com/queue@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2": "spec.image"}, nil},
		{"stray image strings", `
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  namespace: ns
  annotations: {sidecar: "quay.io/x/sidecar:v2", docs: "see https://example.com/a:b", plain: "app.kubernetes.io/name"}
spec:
  template:
    spec:
      containers:
      - name: c
        image: example.com/app:1
        args: ["--helper-image=registry.example.com/helper:v1", "--same=example.com/app:1"]
        env: [{name: X, value: "uses ghcr.io/x/y@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2 too."}]`,
			map[string]string{"example.com/app:1": "spec.template.spec.containers[c].image"},
			[]string{"ghcr.io/x/y@sha256:a3cc71ce80dbc6df8781f15eac2cf3531a4c9815271799afd8776bef9e6aeaf2", "quay.io/x/sidecar:v2", "registry.example.com/helper:v1"}},
		{"pull policy always and bad image", `
apiVersion: v1
kind: Pod
metadata: {name: p, namespace: ns}
spec: {containers: [{name: a, image: "example.com/a:1", imagePullPolicy: Always}, {name: b, image: "Bad:Image"}, {name: e, image: ""}]}`,
			map[string]string{"example.com/a:1": "spec.containers[a].image", "Bad:Image": "spec.containers[b].image"},
			[]string{"example.com/a:1", "Bad:Image", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs, warnings := Find(objectsFromYAML(t, tt.doc), nil, nil)
			got := map[string]string{}
			for _, r := range refs {
				if len(r.Locations) != 1 {
					t.Errorf("%s: %d locations", r.Ref, len(r.Locations))
				}
				got[r.Ref] = r.Locations[0].Field
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("refs = %v, want %v", got, tt.want)
			}
			var wv []string
			for _, w := range warnings {
				wv = append(wv, w.Value)
			}
			slices.Sort(wv)
			want := slices.Clone(tt.warnings)
			slices.Sort(want)
			if !slices.Equal(wv, want) {
				t.Errorf("warnings = %v, want values %q", warnings, want)
			}
		})
	}
}

func TestFindMergesLocationsAndSources(t *testing.T) {
	objs := objectsFromYAML(t, `
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: ns}
spec: {containers: [{name: c, image: "quay.io/k0sproject/pause:3.10.1"}]}`)
	refs, warnings := Find(objs, []string{"example.com/extra:1", "quay.io/k0sproject/pause:3.10.1"}, []string{"quay.io/k0sproject/pause:3.10.1"})
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if len(refs) != 2 {
		t.Fatalf("refs = %v", refs)
	}
	pause := refs[1]
	var where []string
	for _, l := range pause.Locations {
		where = append(where, l.String())
	}
	want := []string{"s/f.yaml: Pod ns/a: spec.containers[c].image", "spec.images.extra[1]", "k0s system images"}
	if pause.Ref != "quay.io/k0sproject/pause:3.10.1" || !slices.Equal(where, want) {
		t.Errorf("pause found at %q, want %q", where, want)
	}
}

func TestPin(t *testing.T) {
	objs := fixtureObjects(t, "knative-serving/1.23.0/serving-core.yaml", "net-kourier/1.23.0/kourier.yaml")
	refs, _ := Find(objs, nil, nil)
	const d = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	var images []Image
	for _, r := range refs {
		ir, err := parseRef(r.Ref)
		if err != nil {
			t.Fatal(err)
		}
		dg := ir.digest
		if dg == "" {
			dg = d
		}
		images = append(images, Image{Ref: r, Name: ir.name, Tag: ir.effectiveTag(), Target: descOf(string(dg))})
	}
	// Missing one image: an error naming it, and nothing rewritten.
	err := Pin(objs, images[1:])
	if err == nil || !strings.Contains(err.Error(), images[0].Ref.Ref) {
		t.Fatalf("Pin without %s: %v", images[0].Ref.Ref, err)
	}
	if again, _ := Find(objs, nil, nil); !reflect.DeepEqual(again, refs) {
		t.Fatal("a failed Pin changed the objects")
	}
	if err := Pin(objs, images); err != nil {
		t.Fatal(err)
	}
	pinned, _ := Find(objs, nil, nil)
	got := map[string]int{}
	for _, r := range pinned {
		got[r.Ref] = len(r.Locations)
	}
	want := map[string]int{
		"docker.io/envoyproxy/envoy:v1.37-latest@" + d: 1, // tag moved to a digest pin
		queueRef: 2, // digest references stay as they are
		kourRef:  1,
		servingGR + "activator@sha256:e5ab46f3b73fa2e3898fe47f6a3a0c2bd765596f4fb36ceb4c28c35d0a74b2e5":  1,
		servingGR + "autoscaler@sha256:879da127b23db65d862cafa6b23fb987381d0e44150f0027d44e1f5aee83bde2": 1,
		servingGR + "controller@sha256:ca5062ece0329d002a81940cf4268d7898866434d70049bb93f27d3a786d3292": 1,
		servingGR + "webhook@sha256:3846e9a416665c5b9ec2e4de246cfcb5c4ab0d01ba19348aa008caf30144b650":    1,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("after Pin: %v\nwant %v", got, want)
	}
}

func TestPinnedAndNames(t *testing.T) {
	const d = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	tests := []struct {
		ref    string
		pinned string
		names  []string
	}{
		{"nginx", "docker.io/library/nginx@" + d, []string{"docker.io/library/nginx:latest", "docker.io/library/nginx:latest@" + d, "docker.io/library/nginx@" + d}},
		{"ghcr.io/knative/helloworld-go:latest", "ghcr.io/knative/helloworld-go@" + d,
			[]string{"ghcr.io/knative/helloworld-go:latest", "ghcr.io/knative/helloworld-go:latest@" + d, "ghcr.io/knative/helloworld-go@" + d}},
		{"quay.io/metallb/speaker:v0.15.3", "quay.io/metallb/speaker:v0.15.3@" + d,
			[]string{"quay.io/metallb/speaker:v0.15.3", "quay.io/metallb/speaker:v0.15.3@" + d, "quay.io/metallb/speaker@" + d}},
		{"example.com/a@" + d, "example.com/a@" + d, []string{"example.com/a@" + d}},
		{"example.com/a:v1@" + d, "example.com/a:v1@" + d, []string{"example.com/a:v1", "example.com/a:v1@" + d, "example.com/a@" + d}},
	}
	for _, tt := range tests {
		r, err := parseRef(tt.ref)
		if err != nil {
			t.Fatal(err)
		}
		im := Image{Name: r.name, Tag: r.effectiveTag(), Target: descOf(d)}
		if im.Pinned() != tt.pinned {
			t.Errorf("%s: pinned %s, want %s", tt.ref, im.Pinned(), tt.pinned)
		}
		if !slices.Equal(im.Names(), tt.names) {
			t.Errorf("%s: names %q, want %q", tt.ref, im.Names(), tt.names)
		}
	}
}

func TestRewrites(t *testing.T) {
	rw := Rewrites{
		"gcr.io/knative-releases/knative.dev":                   "registry.local/knative",
		"gcr.io/knative-releases/knative.dev/serving/cmd/queue": "registry.local/queue",
		"docker.io/envoyproxy/":                                 "registry.local/envoy/",
		"quay.io/metal":                                         "registry.local/nope",
	}
	tests := map[string]string{
		servingGR + "activator@sha256:e5": "registry.local/knative/serving/cmd/activator@sha256:e5",
		queueRef:                          "registry.local/queue" + strings.TrimPrefix(queueRef, servingGR+"queue"),
		"envoyproxy/envoy:v1":             "registry.local/envoy/envoy:v1", // matched in normalized form
		"quay.io/metallb/speaker:v1":      "quay.io/metallb/speaker:v1",    // not at a boundary
		"nginx":                           "nginx",
	}
	for in, want := range tests {
		if got := rw.Apply(in); got != want {
			t.Errorf("Apply(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestParseRefRefuses(t *testing.T) {
	tests := []struct{ ref, want string }{
		{"", "empty or surrounded by spaces"},
		{" nginx", "empty or surrounded by spaces"},
		{"Nginx", "invalid image reference"},
		{"0_0.0/0", `"0_0.0" is neither a registry host nor a repository on Docker Hub`},
		{"a_b.c/app:v1", `"a_b.c" is neither a registry host`},
		{"quay.io/a@sha512:" + strings.Repeat("0", 128), "only sha256 digests"},
	}
	for _, tt := range tests {
		t.Run(tt.ref, func(t *testing.T) {
			_, err := parseRef(tt.ref)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseRef(%q) = %v, want an error containing %q", tt.ref, err, tt.want)
			}
		})
	}
}
