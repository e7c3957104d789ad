package k0sconfig_test

import (
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/k0sproject/k0s/pkg/airgap"
	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// parseSpec reads an edgeimg spec over the embedded default, as the CLI does.
func parseSpec(t *testing.T, doc string) *spec.Document {
	t.Helper()
	d, err := spec.Parse("test.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	return d
}

const header = "apiVersion: edgeimg.io/v1alpha1\nkind: Image\n"

type built struct {
	c    *k0sconfig.Config
	back *v1beta1.ClusterConfig // k0s.yaml read back by k0s
	yaml string
}

func TestBuild(t *testing.T) {
	reservations := k0sconfig.Reservations{CPUMilli: 250, MemoryBytes: 384 << 20, EvictionHardBytes: 100 << 20}
	tests := []struct {
		name  string
		spec  string
		r     k0sconfig.Reservations
		opts  []k0sconfig.Option
		check func(t *testing.T, b built)
	}{
		{
			name: "default",
			spec: header,
			check: func(t *testing.T, b built) {
				sp := b.back.Spec
				if sp.Network.Provider != "kuberouter" {
					t.Errorf("provider = %q, want kuberouter", sp.Network.Provider)
				}
				if sp.Telemetry.Enabled == nil || *sp.Telemetry.Enabled {
					t.Errorf("telemetry not disabled: %v", sp.Telemetry.Enabled)
				}
				if sp.Storage.Type != v1beta1.KineStorageType || sp.Storage.Kine.DataSource != "sqlite://file:/var/lib/k0s/db/state.db?mode=rwc&_journal=WAL" {
					t.Errorf("storage = %s %+v, want kine in /var/lib/k0s", sp.Storage.Type, sp.Storage.Kine)
				}
				if sp.Images.DefaultPullPolicy != "Never" {
					t.Errorf("pull policy = %q, want Never for an airgapped node", sp.Images.DefaultPullPolicy)
				}
				if len(sp.WorkerProfiles) != 0 {
					t.Errorf("worker profiles %v without reservations", sp.WorkerProfiles)
				}
				for _, absent := range []string{"peerAddress", "etcd:", "sans:", "address: ", "creationTimestamp"} {
					if strings.Contains(b.yaml, absent) {
						t.Errorf("k0s.yaml contains %q:\n%s", absent, b.yaml)
					}
				}
				wantFlags := []string{"--single", "-c", "/etc/k0s/k0s.yaml"}
				if got := b.c.InstallFlags(); !slices.Equal(got, wantFlags) {
					t.Errorf("install flags = %q, want %q", got, wantFlags)
				}
				if files := b.c.ExtraFiles(); len(files) != 0 || b.c.CNIPlugins() != nil || b.c.CNILinks() != nil || b.c.OSPackages() != nil {
					t.Errorf("kuberouter needs no extra files, CNI plugins, links or packages, got %v %v %v %v", files, b.c.CNIPlugins(), b.c.CNILinks(), b.c.OSPackages())
				}
			},
		},
		{
			name: "reservations",
			spec: header + "spec:\n  node:\n    maxPods: 50\n",
			r:    reservations,
			check: func(t *testing.T, b built) {
				kc := defaultProfile(t, b.back)
				if kc.SystemReserved["cpu"] != "250m" || kc.SystemReserved["memory"] != "384Mi" {
					t.Errorf("systemReserved = %v, want cpu 250m memory 384Mi", kc.SystemReserved)
				}
				want := map[string]string{"memory.available": "100Mi", "nodefs.available": "10%", "nodefs.inodesFree": "5%", "imagefs.available": "15%", "imagefs.inodesFree": "5%"}
				if !mapsEqual(kc.EvictionHard, want) {
					t.Errorf("evictionHard = %v, want %v", kc.EvictionHard, want)
				}
				if kc.MaxPods != 50 {
					t.Errorf("maxPods = %d, want 50", kc.MaxPods)
				}
			},
		},
		{
			name: "reservations from spec",
			spec: header + "spec:\n  node:\n    reserved: {cpu: 300m, memory: 1Gi}\n    memory: 2Gi\n    evictionHard: 64Mi\n",
			check: func(t *testing.T, b built) {
				// r is zero: the case builds with ReservationsFromSpec below.
			},
		},
		{
			name: "bridge network",
			spec: header + "spec:\n  k0s:\n    network: bridge\n",
			check: func(t *testing.T, b built) {
				if p := b.back.Spec.Network.Provider; p != "custom" {
					t.Errorf("provider = %q, want custom", p)
				}
				checkConflist(t, b.c, "10.244.0.0/16")
				if got := b.c.CNIPlugins(); !slices.Equal(got, []string{"bridge", "host-local", "loopback", "portmap"}) {
					t.Errorf("CNI plugins = %v", got)
				}
				var links []string
				for _, l := range b.c.CNILinks() {
					links = append(links, l.Path+" -> "+l.Target)
				}
				if want := []string{"/opt/cni/bin/bridge -> /usr/lib/cni/bridge", "/opt/cni/bin/host-local -> /usr/lib/cni/host-local",
					"/opt/cni/bin/loopback -> /usr/lib/cni/loopback", "/opt/cni/bin/portmap -> /usr/lib/cni/portmap"}; !slices.Equal(links, want) {
					t.Errorf("CNI links = %q, want %q", links, want)
				}
				if got := b.c.OSPackages(); !slices.Equal(got, []string{"containernetworking-plugins"}) {
					t.Errorf("OS packages = %v", got)
				}
				for _, img := range b.c.SystemImages() {
					if strings.Contains(img, "kube-router") || strings.Contains(img, "cni-node") {
						t.Errorf("bridge network lists kube-router image %s", img)
					}
				}
				for _, w := range b.c.SystemWorkloads() {
					if w.Name == "kube-router" {
						t.Errorf("bridge network runs kube-router: %+v", w)
					}
				}
			},
		},
		{
			name: "bridge network on a user pod CIDR",
			spec: header + "spec:\n  k0s:\n    network: bridge\n    config:\n      network:\n        podCIDR: 10.42.0.0/16\n",
			check: func(t *testing.T, b built) {
				if b.back.Spec.Network.PodCIDR != "10.42.0.0/16" {
					t.Errorf("podCIDR = %s", b.back.Spec.Network.PodCIDR)
				}
				checkConflist(t, b.c, "10.42.0.0/16")
			},
		},
		{
			name: "disabled components",
			spec: header + "spec:\n  k0s:\n    disableComponents: [metrics-server, coredns, metrics-server]\n",
			check: func(t *testing.T, b built) {
				want := []string{"--single", "--disable-components=metrics-server,coredns", "-c", "/etc/k0s/k0s.yaml"}
				if got := b.c.InstallFlags(); !slices.Equal(got, want) {
					t.Errorf("install flags = %q, want %q", got, want)
				}
				for _, w := range b.c.SystemWorkloads() {
					if w.Name == "metrics-server" || w.Name == "coredns" {
						t.Errorf("disabled component still listed: %+v", w)
					}
				}
				unit := string(b.c.Unit("/usr/local/bin/k0s"))
				if !strings.Contains(unit, "ExecStart=/usr/local/bin/k0s controller --config=/etc/k0s/k0s.yaml --disable-components=metrics-server,coredns --single=true\n") {
					t.Errorf("unit ExecStart:\n%s", unit)
				}
			},
		},
		{
			name: "user config, spec only",
			spec: header + `spec:
  k0s:
    config:
      telemetry:
        enabled: true
      api:
        extraArgs:
          audit-log-maxage: "3"
      network:
        kubeProxy:
          mode: ipvs
`,
			check: func(t *testing.T, b built) {
				sp := b.back.Spec
				if sp.Network.KubeProxy.Mode != "ipvs" {
					t.Errorf("kubeProxy.mode = %q, want ipvs", sp.Network.KubeProxy.Mode)
				}
				if sp.API.ExtraArgs["audit-log-maxage"] != "3" {
					t.Errorf("api.extraArgs = %v", sp.API.ExtraArgs)
				}
				if sp.Telemetry.Enabled == nil || !*sp.Telemetry.Enabled {
					t.Errorf("user's telemetry.enabled: true did not win")
				}
				if sp.Storage.Type != v1beta1.KineStorageType || sp.Network.Provider != "kuberouter" {
					t.Errorf("user merge lost edgeimg's settings: storage %s provider %s", sp.Storage.Type, sp.Network.Provider)
				}
			},
		},
		{
			name: "user config, whole document with worker profiles",
			spec: header + `spec:
  k0s:
    config:
      apiVersion: k0s.k0sproject.io/v1beta1
      kind: ClusterConfig
      metadata:
        name: edge
      spec:
        images:
          default_pull_policy: IfNotPresent
        workerProfiles:
          - name: default
            values:
              maxPods: 30
          - name: big
            values:
              maxPods: 200
`,
			r: reservations,
			check: func(t *testing.T, b built) {
				if b.back.Name != "edge" {
					t.Errorf("metadata.name = %q, want edge", b.back.Name)
				}
				if p := b.back.Spec.Images.DefaultPullPolicy; p != "IfNotPresent" {
					t.Errorf("pull policy = %q, want the user's IfNotPresent", p)
				}
				kc := defaultProfile(t, b.back)
				if kc.MaxPods != 30 || kc.SystemReserved["cpu"] != "250m" || kc.EvictionHard["memory.available"] != "100Mi" {
					t.Errorf("profile default = maxPods %d reserved %v eviction %v: want the user's maxPods merged with the reservations", kc.MaxPods, kc.SystemReserved, kc.EvictionHard)
				}
				if len(b.back.Spec.WorkerProfiles) != 2 || b.back.Spec.WorkerProfiles[1].Name != "big" {
					t.Errorf("worker profiles = %v, want default and big", b.back.Spec.WorkerProfiles)
				}
			},
		},
		{
			name: "user sets the API address",
			spec: header + "spec:\n  k0s:\n    config:\n      api:\n        address: 192.0.2.10\n        sans: [edge.example.com]\n",
			check: func(t *testing.T, b built) {
				if b.back.Spec.API.Address != "192.0.2.10" || !slices.Equal(b.back.Spec.API.SANs, []string{"edge.example.com"}) {
					t.Errorf("api = %s %v, want the user's address and sans kept", b.back.Spec.API.Address, b.back.Spec.API.SANs)
				}
			},
		},
		{
			name: "registry mirrors",
			spec: header + "spec:\n  images:\n    mirrors:\n      quay.io: mirror.local:5000\n",
			check: func(t *testing.T, b built) {
				if p := b.back.Spec.Images.DefaultPullPolicy; p != "IfNotPresent" {
					t.Errorf("pull policy = %q, want IfNotPresent with mirrors", p)
				}
			},
		},
		{
			name: "image replace",
			spec: header + "spec:\n  images:\n    replace:\n      quay.io/k0sproject/: registry.local:5000/k0s/\n      quay.io/k0sproject/pause: registry.local:5000/sandbox/pause\n",
			check: func(t *testing.T, b built) {
				if got := b.back.Spec.Images.Pause.URI(); got != "registry.local:5000/sandbox/pause:3.10.2-0" {
					t.Errorf("pause = %s, want the longest prefix's replacement", got)
				}
				for _, img := range b.c.SystemImages() {
					if !strings.HasPrefix(img, "registry.local:5000/") {
						t.Errorf("system image %s not replaced", img)
					}
				}
				if strings.Contains(b.yaml, "quay.io/k0sproject/coredns") {
					t.Errorf("k0s.yaml keeps the replaced coredns image")
				}
			},
		},
		{
			name: "data dir",
			spec: header,
			opts: []k0sconfig.Option{k0sconfig.WithDataDir("/data/k0s")},
			check: func(t *testing.T, b built) {
				if ds := b.back.Spec.Storage.Kine.DataSource; ds != "sqlite://file:/data/k0s/db/state.db?mode=rwc&_journal=WAL" {
					t.Errorf("kine data source = %s", ds)
				}
				want := []string{"--single", "--data-dir=/data/k0s", "-c", "/etc/k0s/k0s.yaml"}
				if got := b.c.InstallFlags(); !slices.Equal(got, want) {
					t.Errorf("install flags = %q, want %q", got, want)
				}
			},
		},
	}
	hostAddrs := hostAddresses(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseSpec(t, tt.spec)
			r := tt.r
			if tt.name == "reservations from spec" {
				r = k0sconfig.ReservationsFromSpec(&d.Spec)
				if r != (k0sconfig.Reservations{CPUMilli: 300, MemoryBytes: 1 << 30, EvictionHardBytes: 64 << 20}) {
					t.Fatalf("ReservationsFromSpec = %+v", r)
				}
			}
			c, err := k0sconfig.Build(d, r, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			data, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			back, err := v1beta1.ConfigFromBytes(data)
			if err != nil {
				t.Fatalf("k0s cannot read k0s.yaml: %v\n%s", err, data)
			}
			if errs := back.Validate(); len(errs) > 0 {
				t.Fatalf("k0s rejects k0s.yaml: %v\n%s", errs, data)
			}
			if back.Spec.Images.Pause.URI() != c.Cluster.Spec.Images.Pause.URI() || back.Spec.Network.Provider != c.Cluster.Spec.Network.Provider {
				t.Errorf("k0s.yaml read back differs from the built config")
			}
			if tt.name != "user sets the API address" {
				for _, a := range hostAddrs {
					if regexp.MustCompile(`(^|[^0-9a-fA-F.:])` + regexp.QuoteMeta(a) + `($|[^0-9a-fA-F.:/])`).MatchString(string(data)) {
						t.Errorf("k0s.yaml contains this machine's address %s:\n%s", a, data)
					}
				}
			}
			if tt.name == "reservations from spec" {
				kc := defaultProfile(t, back)
				if kc.SystemReserved["cpu"] != "300m" || kc.SystemReserved["memory"] != "1Gi" || kc.EvictionHard["memory.available"] != "64Mi" {
					t.Errorf("profile = %v %v", kc.SystemReserved, kc.EvictionHard)
				}
			}
			tt.check(t, built{c: c, back: back, yaml: string(data)})
		})
	}
}

// hostAddresses are this machine's addresses k0s would default to.
func hostAddresses(t *testing.T) []string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() {
			out = append(out, n.IP.String())
		}
	}
	// What k0s itself would write for spec.api.address here.
	if def := v1beta1.DefaultAPISpec().Address; def != "" && def != "127.0.0.1" && !slices.Contains(out, def) {
		out = append(out, def)
	}
	return out
}

func defaultProfile(t *testing.T, c *v1beta1.ClusterConfig) kubeletv1beta1.KubeletConfiguration {
	t.Helper()
	for _, p := range c.Spec.WorkerProfiles {
		if p.Name != "default" {
			continue
		}
		var kc kubeletv1beta1.KubeletConfiguration
		if err := yaml.UnmarshalStrict(p.Config.Raw, &kc); err != nil {
			t.Fatalf("worker profile default is not a KubeletConfiguration: %v\n%s", err, p.Config.Raw)
		}
		return kc
	}
	t.Fatalf("no worker profile named default in %v", c.Spec.WorkerProfiles)
	return kubeletv1beta1.KubeletConfiguration{}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		spec string
		opts []k0sconfig.Option
		want []string
	}{
		{"unknown nested field", header + "spec:\n  k0s:\n    config:\n      network:\n        kubeProxy:\n          modde: ipvs\n",
			nil, []string{"spec.k0s.config.network.kubeProxy.modde", "unknown k0s ClusterConfig field", "mode"}},
		{"unknown top-level spec field", header + "spec:\n  k0s:\n    config:\n      bogus: 1\n",
			nil, []string{"spec.k0s.config.bogus", "expected one of", "workerProfiles"}},
		{"unknown field in a whole document", header + "spec:\n  k0s:\n    config:\n      kind: ClusterConfig\n      spec:\n        api:\n          adress: 10.0.0.1\n",
			nil, []string{"spec.k0s.config.spec.api.adress", "address"}},
		{"unknown field in a list", header + "spec:\n  k0s:\n    config:\n      workerProfiles:\n        - name: x\n          valeus: {}\n",
			nil, []string{"spec.k0s.config.workerProfiles[0].valeus"}},
		{"wrong document kind", header + "spec:\n  k0s:\n    config:\n      kind: Cluster\n      spec: {}\n",
			nil, []string{"spec.k0s.config.kind", "ClusterConfig"}},
		{"wrong shape", header + "spec:\n  k0s:\n    config:\n      network: calico\n",
			nil, []string{"spec.k0s.config.network", "expected a mapping"}},
		{"value k0s rejects", header + "spec:\n  k0s:\n    config:\n      network:\n        podCIDR: [1]\n",
			nil, []string{"spec.k0s.config", "k0s rejects it"}},
		{"invalid value", header + "spec:\n  k0s:\n    config:\n      network:\n        podCIDR: not-a-cidr\n",
			nil, []string{"podCIDR", "not-a-cidr"}},
		{"provider conflict", header + "spec:\n  k0s:\n    config:\n      network:\n        provider: calico\n",
			nil, []string{"spec.k0s.config", `"calico" conflicts with spec.k0s.network`}},
		{"null image", header + "spec:\n  k0s:\n    config:\n      images:\n        coredns: null\n",
			nil, []string{"spec.k0s.config", "spec.images.coredns is null"}},
		{"unknown component", header + "spec:\n  k0s:\n    disableComponents: [metric-server]\n",
			nil, []string{"spec.k0s.disableComponents[0]", `"metric-server" is not a k0s component`, "metrics-server"}},
		{"required component", header + "spec:\n  k0s:\n    disableComponents: [coredns, applier-manager]\n",
			nil, []string{"spec.k0s.disableComponents[1]", "applier-manager", "manifest stacks"}},
		{"replace drops the tag", header + "spec:\n  images:\n    replace:\n      quay.io/k0sproject/pause:3.10.2-0: registry.local/pause\n",
			nil, []string{"spec.images.replace", "registry.local/pause", "no tag"}},
		{"relative data dir", header, []k0sconfig.Option{k0sconfig.WithDataDir("data")}, []string{`data dir "data"`, "absolute"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := parseSpec(t, tt.spec)
			_, err := k0sconfig.Build(d, k0sconfig.Reservations{}, tt.opts...)
			if err == nil {
				t.Fatal("Build succeeded")
			}
			t.Log(err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
	if _, err := k0sconfig.Build(spec.Default(), k0sconfig.Reservations{MemoryBytes: -1}); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("negative reservation: err = %v", err)
	}
}

func TestSystemImages(t *testing.T) {
	def, err := k0sconfig.Build(parseSpec(t, header), k0sconfig.Reservations{})
	if err != nil {
		t.Fatal(err)
	}
	k0sDefaults := def.Cluster.Spec.Images // the default release's
	tests := []struct {
		name       string
		spec       string
		want, drop []*v1beta1.ImageSpec
	}{
		{"default", header,
			[]*v1beta1.ImageSpec{k0sDefaults.Pause, k0sDefaults.CoreDNS, k0sDefaults.KubeProxy, k0sDefaults.KubeRouter.CNI, k0sDefaults.KubeRouter.CNIInstaller, k0sDefaults.MetricsServer},
			[]*v1beta1.ImageSpec{k0sDefaults.Konnectivity, k0sDefaults.PushGateway, k0sDefaults.Calico.CNI, k0sDefaults.Calico.Node, k0sDefaults.Calico.KubeControllers}},
		{"bridge", header + "spec:\n  k0s:\n    network: bridge\n",
			[]*v1beta1.ImageSpec{k0sDefaults.Pause, k0sDefaults.CoreDNS, k0sDefaults.KubeProxy, k0sDefaults.MetricsServer},
			[]*v1beta1.ImageSpec{k0sDefaults.KubeRouter.CNI, k0sDefaults.KubeRouter.CNIInstaller}},
		{"disabled", header + "spec:\n  k0s:\n    disableComponents: [metrics-server, coredns, kube-proxy]\n",
			[]*v1beta1.ImageSpec{k0sDefaults.Pause, k0sDefaults.KubeRouter.CNI},
			[]*v1beta1.ImageSpec{k0sDefaults.MetricsServer, k0sDefaults.CoreDNS, k0sDefaults.KubeProxy}},
		{"network-provider disabled", header + "spec:\n  k0s:\n    disableComponents: [network-provider]\n",
			[]*v1beta1.ImageSpec{k0sDefaults.Pause},
			[]*v1beta1.ImageSpec{k0sDefaults.KubeRouter.CNI, k0sDefaults.KubeRouter.CNIInstaller}},
		{"kube-proxy disabled in the config", header + "spec:\n  k0s:\n    config:\n      network:\n        kubeProxy:\n          disabled: true\n",
			[]*v1beta1.ImageSpec{k0sDefaults.Pause},
			[]*v1beta1.ImageSpec{k0sDefaults.KubeProxy}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := k0sconfig.Build(parseSpec(t, tt.spec), k0sconfig.Reservations{})
			if err != nil {
				t.Fatal(err)
			}
			got := c.SystemImages()
			all := airgap.GetImageURIs(c.Cluster.Spec, true)
			for _, g := range got {
				if !slices.Contains(all, g) {
					t.Errorf("%s is not one of k0s's images %v", g, all)
				}
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w.URI()) {
					t.Errorf("missing %s in %v", w.URI(), got)
				}
			}
			for _, w := range tt.drop {
				if slices.Contains(got, w.URI()) {
					t.Errorf("%s listed though it does not run: %v", w.URI(), got)
				}
			}
			// Every workload's image is in the list.
			for _, w := range c.SystemWorkloads() {
				if !slices.Contains(got, w.Image) {
					t.Errorf("workload %s/%s image %s not in system images %v", w.Name, w.Container, w.Image, got)
				}
			}
		})
	}
}

func TestRewriteImagesPinsDigests(t *testing.T) {
	c, err := k0sconfig.Build(spec.Default(), k0sconfig.Reservations{})
	if err != nil {
		t.Fatal(err)
	}
	const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	err = c.RewriteImages(func(ref string) (string, error) { return ref + "@" + digest, nil })
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range c.SystemImages() {
		if !strings.HasSuffix(img, "@"+digest) {
			t.Errorf("%s not pinned", img)
		}
	}
	data, _ := c.YAML()
	back, err := v1beta1.ConfigFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if errs := back.Validate(); len(errs) > 0 {
		t.Fatalf("pinned k0s.yaml invalid: %v", errs)
	}
	if got := back.Spec.Images.Pause.URI(); got != "quay.io/k0sproject/pause:3.10.2-0@"+digest {
		t.Errorf("pause read back = %s", got)
	}
	if err := c.RewriteImages(func(string) (string, error) { return "quay.io/k0sproject/pause:bad tag", nil }); err == nil {
		t.Error("an invalid rewritten reference was accepted")
	}
}

func TestUserEtcdStorageKeepsNoHostAddress(t *testing.T) {
	d := parseSpec(t, header+"spec:\n  k0s:\n    config:\n      storage:\n        type: etcd\n")
	c, err := k0sconfig.Build(d, k0sconfig.Reservations{})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := c.YAML()
	if strings.Contains(string(data), "peerAddress") {
		t.Errorf("k0s.yaml has the build machine's etcd peer address:\n%s", data)
	}
	back, err := v1beta1.ConfigFromBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if back.Spec.Storage.Type != v1beta1.EtcdStorageType {
		t.Errorf("storage %s, want the user's etcd", back.Spec.Storage.Type)
	}
}

func BenchmarkBuild(b *testing.B) {
	tests := map[string]string{
		"default":     header,
		"bridge+user": header + "spec:\n  k0s:\n    network: bridge\n    disableComponents: [metrics-server]\n    config:\n      network:\n        kubeProxy:\n          mode: ipvs\n",
	}
	for name, doc := range tests {
		d, err := spec.Parse("bench.yaml", []byte(doc))
		if err != nil {
			b.Fatal(err)
		}
		r := k0sconfig.Reservations{CPUMilli: 250, MemoryBytes: 384 << 20, EvictionHardBytes: 100 << 20}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				c, err := k0sconfig.Build(d, r)
				if err != nil {
					b.Fatal(err)
				}
				_ = c.SystemImages()
			}
		})
	}
}
