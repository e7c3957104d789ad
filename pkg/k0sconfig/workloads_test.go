package k0sconfig_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"text/template"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// submatch returns the first group of re in the k0s source file, failing
// when k0s's code no longer has that shape.
func submatch(t *testing.T, rel, re string) string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(k0sSource(t, rel))
	if m == nil {
		t.Fatalf("k0s %s no longer matches %q: re-check the single-node values in workloads.go", rel, re)
	}
	return m[1]
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSystemWorkloadsMatchK0sTemplates renders k0s's own manifest templates
// (from the k0s module source) with the data k0s computes for one node and
// compares every container's requests, limits and image with
// SystemWorkloads.
func TestSystemWorkloadsMatchK0sTemplates(t *testing.T) {
	c, err := k0sconfig.Build(spec.Default(), k0sconfig.Reservations{})
	if err != nil {
		t.Fatal(err)
	}
	sp := c.Cluster.Spec
	pull := sp.Images.DefaultPullPolicy
	const dir = "pkg/component/controller/"

	// coredns.go: replicaCount(nodeCount <= 1) is 1, and a single replica
	// disables anti-affinity and the PDB.
	if submatch(t, dir+"coredns.go", `if nodeCount <= 1 \{\s*return (\d+)`) != "1" {
		t.Fatal("k0s no longer runs one coredns replica on one node")
	}
	// metricserver.go: requests scale per started block of 10 nodes.
	scaleMin := atoi(t, submatch(t, dir+"metricserver.go", `if scale < 1 \{\s*scale = (\d+)`))
	memPer := atoi(t, submatch(t, dir+"metricserver.go", `memRequest := int\((\d+) \* scale\)`))
	cpuPer := atoi(t, submatch(t, dir+"metricserver.go", `cpuRequest := int\((\d+) \* scale\)`))
	memFmt := submatch(t, dir+"metricserver.go", `cfg\.MEMRequest = fmt\.Sprintf\("([^"]+)", memRequest\)`)
	cpuFmt := submatch(t, dir+"metricserver.go", `cfg\.CPURequest = fmt\.Sprintf\("([^"]+)", cpuRequest\)`)

	renders := []struct {
		file, constant string
		data           map[string]any
	}{
		{dir + "coredns.go", "coreDNSTemplate", map[string]any{
			"Replicas": 1, "ClusterDNSIP": "10.96.0.10", "ClusterDomain": sp.Network.ClusterDomain,
			"Image": sp.Images.CoreDNS.URI(), "PullPolicy": pull,
			"DisablePodAntiAffinity": true, "DisablePodDisruptionBudget": true, "MaxUnavailableReplicas": (*uint)(nil),
		}},
		{dir + "kubeproxy.go", "proxyTemplate", map[string]any{
			"ClusterCIDR": sp.Network.PodCIDR, "ControlPlaneEndpoint": "https://192.0.2.1:6443",
			"Image": sp.Images.KubeProxy.URI(), "PullPolicy": pull, "Mode": sp.Network.KubeProxy.Mode,
			"MetricsBindAddress": sp.Network.KubeProxy.MetricsBindAddress, "IPTables": "{}", "IPVS": "{}", "NFTables": "{}",
			"FeatureGates": map[string]bool{}, "NodePortAddresses": "[]", "Args": []string{"--config=/var/lib/kube-proxy/config.conf"},
		}},
		{dir + "kuberouter.go", "kubeRouterTemplate", map[string]any{
			"MTU": 0, "AutoMTU": true, "MetricsPort": 8080, "CNIHairpin": true, "IPMasq": false,
			"CNIImage": sp.Images.KubeRouter.CNI.URI(), "CNIInstallerImage": sp.Images.KubeRouter.CNIInstaller.URI(),
			"PullPolicy": pull, "Args": []string{"--run-router=true"},
		}},
		{dir + "metricserver.go", "metricServerTemplate", map[string]any{
			"Image": sp.Images.MetricsServer.URI(), "PullPolicy": pull,
			"MEMRequest": fmt.Sprintf(memFmt, memPer*scaleMin), "CPURequest": fmt.Sprintf(cpuFmt, cpuPer*scaleMin),
		}},
	}
	var fromK0s []k0sconfig.Workload
	for _, r := range renders {
		tmpl, err := template.New(r.constant).Option("missingkey=error").Parse(k0sConst(t, r.file, r.constant))
		if err != nil {
			t.Fatalf("%s %s: %v", r.file, r.constant, err)
		}
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, r.data); err != nil {
			t.Fatalf("render k0s %s: %v (did k0s change the template's data?)", r.constant, err)
		}
		fromK0s = append(fromK0s, workloadsOf(t, r.constant, buf.Bytes(), pull)...)
	}
	ours := c.SystemWorkloads()
	for _, w := range fromK0s {
		if !slices.Contains(ours, w) {
			t.Errorf("k0s renders %+v; SystemWorkloads has no such entry", w)
		}
	}
	for _, w := range ours {
		if !slices.Contains(fromK0s, w) {
			t.Errorf("SystemWorkloads lists %+v, which k0s does not render", w)
		}
	}
	if len(fromK0s) != 6 {
		t.Errorf("k0s rendered %d containers, want 6 (coredns, kube-proxy, 3× kube-router, metrics-server)", len(fromK0s))
	}
}

// workloadsOf decodes rendered manifests and lists their containers.
func workloadsOf(t *testing.T, name string, manifests []byte, pull string) []k0sconfig.Workload {
	t.Helper()
	var out []k0sconfig.Workload
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(manifests), 4096)
	for {
		var raw runtime.RawExtension
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("k0s %s renders invalid YAML: %v", name, err)
		}
		if len(raw.Raw) == 0 {
			continue
		}
		var meta struct{ Kind string }
		if err := yaml.Unmarshal(raw.Raw, &meta); err != nil {
			t.Fatal(err)
		}
		var (
			objName, ns string
			replicas    = 1
			pod         corev1.PodSpec
		)
		switch meta.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if err := yaml.UnmarshalStrict(raw.Raw, &d); err != nil {
				t.Fatalf("k0s %s Deployment: %v", name, err)
			}
			objName, ns, pod = d.Name, d.Namespace, d.Spec.Template.Spec
			if d.Spec.Replicas != nil {
				replicas = int(*d.Spec.Replicas)
			}
		case "DaemonSet":
			var d appsv1.DaemonSet
			if err := yaml.UnmarshalStrict(raw.Raw, &d); err != nil {
				t.Fatalf("k0s %s DaemonSet: %v", name, err)
			}
			objName, ns, pod = d.Name, d.Namespace, d.Spec.Template.Spec
		default:
			continue
		}
		add := func(cs []corev1.Container, init bool) {
			for _, ctr := range cs {
				if string(ctr.ImagePullPolicy) != pull {
					t.Errorf("%s/%s pull policy %q, want %q", objName, ctr.Name, ctr.ImagePullPolicy, pull)
				}
				out = append(out, k0sconfig.Workload{
					Namespace: ns, Kind: meta.Kind, Name: objName, Container: ctr.Name, Init: init,
					Replicas: replicas, Image: ctr.Image,
					Requests: resources(ctr.Resources.Requests), Limits: resources(ctr.Resources.Limits),
				})
			}
		}
		add(pod.InitContainers, true)
		add(pod.Containers, false)
	}
	return out
}

func resources(l corev1.ResourceList) k0sconfig.Resources {
	var r k0sconfig.Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.CPUMilli = q.MilliValue()
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.MemoryBytes = q.Value()
	}
	return r
}
