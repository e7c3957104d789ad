//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// lever is one memory setting a k0s user can change, measured on its own.
type lever struct {
	name string
	// env is added to spec.k0s.env, k0s's environment (k0s passes it on
	// to its components).
	env map[string]string
	// k0s are YAML documents merged, in order, into spec.k0s.config (a
	// ClusterConfig document).
	k0s []string
	// disable are k0s components added to spec.k0s.disableComponents.
	disable []string
}

// levers are measured one at a time against "baseline", then combined
// (combinedLevers).
var levers = []lever{
	{name: "baseline"},
	{name: "gogc50", env: map[string]string{"GOGC": "50"}},
	{name: "gogc25", env: map[string]string{"GOGC": "25"}},
	{name: "apiserver-no-watch-cache", k0s: []string{"spec: {api: {extraArgs: {watch-cache: \"false\"}}}"}},
	{name: "apiserver-no-apf", k0s: []string{"spec: {api: {extraArgs: {enable-priority-and-fairness: \"false\"}}}"}},
	{name: "no-metrics-server", disable: []string{"metrics-server"}},
	{name: "no-k0s-extras", disable: []string{"autopilot", "helm", "update-prober"}},
	// Controllers a single edge node running this stack does not use:
	// quotas, HPAs (capped at one replica), volumes, ReplicationControllers,
	// CronJobs, StatefulSets, node TTLs. k0s's own default is
	// "*,bootstrapsigner,tokencleaner".
	{name: "kcm-controllers", k0s: []string{"spec: {controllerManager: {extraArgs: {controllers: \"" + strings.Join([]string{"*",
		"bootstrap-signer-controller", "token-cleaner-controller",
		"-resourcequota-controller", "-horizontal-pod-autoscaler-controller",
		"-persistentvolume-attach-detach-controller", "-persistentvolume-binder-controller",
		"-persistentvolume-expander-controller", "-persistentvolumeclaim-protection-controller",
		"-persistentvolume-protection-controller", "-ephemeral-volume-controller",
		"-replicationcontroller-controller", "-cronjob-controller", "-statefulset-controller", "-ttl-controller",
	}, ",") + "\"}}}"}},
	// GOMEMLIMIT per component at about 80% of its idle anonymous memory
	// (baseline); k0s itself reads the plain GOMEMLIMIT.
	{name: "gomemlimit", env: map[string]string{
		"GOMEMLIMIT":                         "42MiB",
		"KUBE-APISERVER_GOMEMLIMIT":          "220MiB",
		"KUBE-CONTROLLER-MANAGER_GOMEMLIMIT": "42MiB",
		"KUBE-SCHEDULER_GOMEMLIMIT":          "13MiB",
		"KUBELET_GOMEMLIMIT":                 "24MiB",
		"KINE_GOMEMLIMIT":                    "27MiB",
		"CONTAINERD_GOMEMLIMIT":              "22MiB",
	}},
}

// combinedLevers are the levers that each lowered the idle node's memory
// without restarts or OOM kills, measured together as "combined" (GOGC 25
// slows the apiserver's start, see the README's levers table; APF off
// saved too little to be worth losing its protection).
var combinedLevers = []string{"gogc25", "apiserver-no-watch-cache", "no-metrics-server", "no-k0s-extras", "kcm-controllers"}

// combine is the named levers together.
func combine(name string, names []string) (lever, error) {
	c := lever{name: name, env: map[string]string{}}
	for _, n := range names {
		i := slices.IndexFunc(levers, func(l lever) bool { return l.name == n })
		if i < 0 {
			return c, fmt.Errorf("combine: no lever %q", n)
		}
		maps.Copy(c.env, levers[i].env)
		c.k0s = append(c.k0s, levers[i].k0s...)
		c.disable = append(c.disable, levers[i].disable...)
	}
	return c, nil
}

// BenchmarkLevers measures the idle node's memory with one lever at a
// time (see levers), on a node of one CPU (a CFS quota on the whole
// cluster, as the product's node has), so every Go process sizes its
// runtime for one CPU as it would there. Select levers by name:
//
//	go test -tags e2e -run '^$' -bench 'BenchmarkLevers/(baseline|gogc50)$' -benchtime 2x ./test/e2e
//
// Env EDGEIMG_LEVER_MEMORY (bytes, or a quantity such as 1Gi) adds a hard
// memory limit on the whole cluster. Each run prints the memory table,
// start times, OOM kills and restarts.
func BenchmarkLevers(b *testing.B) {
	var limit int64
	if v := os.Getenv("EDGEIMG_LEVER_MEMORY"); v != "" {
		q, err := spec.ParseQuantity(v)
		if err != nil {
			b.Fatalf("EDGEIMG_LEVER_MEMORY: %v", err)
		}
		limit = q.Value()
	}
	combined, err := combine("combined", combinedLevers)
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range append(slices.Clone(levers), combined) {
		b.Run(l.name, func(b *testing.B) {
			var s leverSums
			for i := 0; i < b.N; i++ {
				s.add(runLever(b, l, limit))
			}
			s.report(b)
		})
	}
}

// leverRun is what one run of a lever measured.
type leverRun struct {
	api, node, stacks, hello time.Duration
	mem                      nodeMemory
	oomKills                 int64
	// podRestarts sums the containers' restart counts; componentRestarts
	// counts k0s's "Restarted" lines (a component process it respawned).
	podRestarts, componentRestarts int
}

func runLever(b *testing.B, l lever, memoryLimit int64) leverRun {
	e := startEdge(b, edgeOptions{
		cpuMilli:    1000,
		memoryLimit: memoryLimit,
		spec:        func(d *spec.Document) error { return applyLever(d, l) },
	})
	defer e.stop()
	c := cluster.New(b, e.k.Config)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	r := leverRun{api: e.k.APIServerReady, node: e.k.NodeReady}
	r.stacks = e.waitStacks(ctx, b, c)
	_, r.hello = e.waitService(ctx, b, c, "default", "hello")
	r.mem = e.idleMemory(ctx, b, c)
	kills, err := e.oomKills()
	if err != nil {
		b.Fatal(err)
	}
	r.oomKills = kills
	pods, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	var restarted []string
	for _, p := range pods.Items {
		for _, cs := range p.Status.ContainerStatuses {
			r.podRestarts += int(cs.RestartCount)
			if cs.RestartCount > 0 {
				why := ""
				if t := cs.LastTerminationState.Terminated; t != nil {
					why = fmt.Sprintf(" (last: %s, exit %d)", t.Reason, t.ExitCode)
				}
				restarted = append(restarted, fmt.Sprintf("%s/%s %s ×%d%s", p.Namespace, p.Name, cs.Name, cs.RestartCount, why))
			}
		}
	}
	lines, err := e.k0sLogLines("Restarted (")
	if err != nil {
		b.Fatal(err)
	}
	r.componentRestarts = len(lines)
	// Printed, not logged: a benchmark's log is cut short.
	fmt.Printf("lever %s: apiserver ready %.1fs, node Ready %.1fs, stacks applied %.1fs, hello Ready %.1fs; OOM kills %d, pod restarts %d, component restarts %d\n%s",
		l.name, r.api.Seconds(), r.node.Seconds(), r.stacks.Seconds(), r.hello.Seconds(), r.oomKills, r.podRestarts, r.componentRestarts, memoryTable(r.mem))
	for _, line := range append(restarted, lines...) {
		fmt.Printf("  restarted: %s\n", line)
	}
	return r
}

// applyLever merges the lever's k0s config and disabled components into
// the spec.
func applyLever(d *spec.Document, l lever) error {
	if len(l.env) > 0 {
		if d.Spec.K0s.Env == nil {
			d.Spec.K0s.Env = map[string]string{}
		}
		maps.Copy(d.Spec.K0s.Env, l.env)
	}
	for _, c := range l.disable {
		if !slices.Contains(d.Spec.K0s.DisableComponents, c) {
			d.Spec.K0s.DisableComponents = append(d.Spec.K0s.DisableComponents, c)
		}
	}
	for _, doc := range l.k0s {
		var add map[string]any
		if err := yaml.Unmarshal([]byte(doc), &add); err != nil {
			return fmt.Errorf("lever %s: %w", l.name, err)
		}
		if d.Spec.K0s.Config == nil {
			d.Spec.K0s.Config = map[string]any{}
		}
		mergeInto(d.Spec.K0s.Config, add)
	}
	return d.Validate()
}

// mergeInto merges src into dst, maps recursively, everything else replaced.
func mergeInto(dst, src map[string]any) {
	for k, v := range src {
		sm, ok := v.(map[string]any)
		dm, ok2 := dst[k].(map[string]any)
		if ok && ok2 {
			mergeInto(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// leverSums averages a lever's runs for the benchmark's metrics.
type leverSums struct {
	n                                    int
	api, node, stacks, hello             float64
	pods, rss, pss, anon, cgroupWS, peak float64
	oom, restarts                        float64
	byProcess                            map[string]float64
}

func (s *leverSums) add(r leverRun) {
	s.n++
	s.api += r.api.Seconds()
	s.node += r.node.Seconds()
	s.stacks += r.stacks.Seconds()
	s.hello += r.hello.Seconds()
	s.pods += float64(r.mem.podsTotal()) / (1 << 20)
	s.rss += float64(r.mem.Total()) / (1 << 20)
	s.pss += float64(r.mem.TotalPSS()) / (1 << 20)
	s.anon += float64(sum(r.mem.ProcessesAnon)) / (1 << 20)
	s.cgroupWS += float64(r.mem.Cgroup.WorkingSet) / (1 << 20)
	s.peak += float64(r.mem.Cgroup.Peak) / (1 << 20)
	s.oom += float64(r.oomKills)
	s.restarts += float64(r.podRestarts + r.componentRestarts)
	if s.byProcess == nil {
		s.byProcess = map[string]float64{}
	}
	for k, v := range r.mem.ProcessesPSS {
		s.byProcess[k] += float64(v) / (1 << 20)
	}
}

func (s *leverSums) report(b *testing.B) {
	n := float64(s.n)
	b.ReportMetric(s.api/n, "s-apiserver-ready")
	b.ReportMetric(s.node/n, "s-node-ready")
	b.ReportMetric(s.stacks/n, "s-stacks-applied")
	b.ReportMetric(s.hello/n, "s-hello-ready")
	b.ReportMetric(s.pods/n, "MiB-pods")
	b.ReportMetric(s.rss/n, "MiB-node-rss")
	b.ReportMetric(s.pss/n, "MiB-node-pss")
	b.ReportMetric(s.anon/n, "MiB-process-anon")
	b.ReportMetric(s.cgroupWS/n, "MiB-cgroup-ws")
	b.ReportMetric(s.peak/n, "MiB-cgroup-peak")
	b.ReportMetric(s.oom/n, "oom-kills")
	b.ReportMetric(s.restarts/n, "restarts")
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(s.byProcess)) {
		parts = append(parts, fmt.Sprintf("%s %.0f", k, s.byProcess[k]/n))
	}
	fmt.Printf("mean process PSS (MiB) over %d runs: %s\n", s.n, strings.Join(parts, ", "))
}
