//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeimg/edgeimg/internal/testkit/cgroup"
	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
)

// nodeMemory is the node's memory as `kubectl top` and ps would show it:
// the working set of each pod's cgroup (usage minus inactive file pages,
// the kubelet's measure), and the resident set of each process outside the
// pods (k0s and the components it runs, containerd and its shims).
type nodeMemory struct {
	Pods      map[string]int64 // namespace/name → working set bytes
	Processes map[string]int64 // process name → RSS bytes (summed over same-named processes)
	// ProcessesPSS is the proportional set size: shared pages (the
	// containerd-shim binary mapped by every shim) counted once.
	ProcessesPSS map[string]int64
	// ProcessesAnon is the anonymous part of the RSS (RssAnon): the Go
	// heap, stacks and runtime, what GC settings can change; the rest is
	// mapped binary text and data.
	ProcessesAnon map[string]int64
	// MetricsServer is metrics-server's view per pod, when it answered.
	MetricsServer map[string]int64
	// Cgroup is the whole cluster's memory cgroup, the figure a hard
	// memory limit on the node is compared with.
	Cgroup cgroupMemory
}

// cgroupMemory is a memory cgroup's own accounting.
type cgroupMemory struct {
	// Usage is the charged memory, page cache included.
	Usage int64
	// WorkingSet is Usage minus inactive file pages (the kubelet's measure).
	WorkingSet int64
	// Peak is the highest Usage since the cgroup was made (v1
	// memory.max_usage_in_bytes, v2 memory.peak; 0 when the kernel has
	// no such file).
	Peak int64
}

func (m nodeMemory) podsTotal() int64      { return sum(m.Pods) }
func (m nodeMemory) processesTotal() int64 { return sum(m.Processes) }

// Total is the node's memory: processes' RSS plus pods' working sets.
func (m nodeMemory) Total() int64 { return m.podsTotal() + m.processesTotal() }

// TotalPSS is Total with the processes' PSS instead of their RSS.
func (m nodeMemory) TotalPSS() int64 { return m.podsTotal() + sum(m.ProcessesPSS) }

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// memoryCgroup is the cluster's cgroup directory in the memory hierarchy
// (v1) or the v2 tree, and whether it is v2.
func (e *edge) memoryCgroup() (string, bool, error) {
	for _, d := range e.k.CgroupDirs {
		if strings.HasPrefix(d, "/sys/fs/cgroup/memory/") {
			return d, false, nil
		}
		if _, err := os.Stat(filepath.Join(d, "memory.current")); err == nil {
			return d, true, nil
		}
	}
	return "", false, fmt.Errorf("no memory cgroup among %v", e.k.CgroupDirs)
}

// measureMemory reads the pods' working sets from their cgroups and the
// other processes' RSS, mapping pod cgroups to names through the API.
func (e *edge) measureMemory(ctx context.Context, c *cluster.Clients) (nodeMemory, error) {
	m := nodeMemory{Pods: map[string]int64{}, Processes: map[string]int64{}, ProcessesPSS: map[string]int64{}, ProcessesAnon: map[string]int64{}}
	root, v2, err := e.memoryCgroup()
	if err != nil {
		return m, err
	}
	if m.Cgroup, err = readCgroupMemory(root, v2); err != nil {
		return m, err
	}
	pods, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return m, err
	}
	byUID := map[string]string{}
	for _, p := range pods.Items {
		byUID[strings.ReplaceAll(string(p.UID), "-", "_")] = p.Namespace + "/" + p.Name
		byUID[string(p.UID)] = p.Namespace + "/" + p.Name
	}
	inPods := map[int]bool{}
	err = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		base := filepath.Base(path)
		if !strings.HasPrefix(base, "pod") {
			return nil
		}
		uid := strings.TrimSuffix(strings.TrimPrefix(base, "pod"), ".slice")
		name, ok := byUID[uid]
		if !ok {
			return filepath.SkipDir // a pod already deleted
		}
		ws, err := workingSet(path, v2)
		if err != nil {
			return err
		}
		m.Pods[name] = ws
		for pid := range cgroup.PIDsUnder(path) {
			inPods[pid] = true
		}
		return filepath.SkipDir
	})
	if err != nil {
		return m, err
	}
	for pid := range cgroup.PIDsUnder(root) {
		if inPods[pid] {
			continue
		}
		comm, rss, anon, err := procRSS(pid)
		if err != nil {
			continue // exited meanwhile
		}
		m.Processes[comm] += rss
		m.ProcessesAnon[comm] += anon
		if pss, err := procPSS(pid); err == nil {
			m.ProcessesPSS[comm] += pss
		}
	}
	return m, nil
}

// oomKills is how many processes the kernel's OOM killer ended in the
// cluster's memory cgroup (memory.oom_control on v1, memory.events on v2).
func (e *edge) oomKills() (int64, error) {
	root, v2, err := e.memoryCgroup()
	if err != nil {
		return 0, err
	}
	file := "memory.oom_control"
	if v2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(root, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "oom_kill" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("%s: no oom_kill counter", file)
}

// workingSet is usage minus inactive file pages, as the kubelet computes it.
func workingSet(dir string, v2 bool) (int64, error) {
	usageFile, inactiveKey := "memory.usage_in_bytes", "total_inactive_file"
	if v2 {
		usageFile, inactiveKey = "memory.current", "inactive_file"
	}
	b, err := os.ReadFile(filepath.Join(dir, usageFile))
	if err != nil {
		return 0, err
	}
	usage, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", usageFile, err)
	}
	stat, err := os.ReadFile(filepath.Join(dir, "memory.stat"))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(stat), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == inactiveKey {
			inactive, _ := strconv.ParseInt(f[1], 10, 64)
			if inactive < usage {
				return usage - inactive, nil
			}
			return 0, nil
		}
	}
	return usage, nil
}

// procRSS is a process's name, resident set size and its anonymous part.
func procRSS(pid int) (name string, rss, anon int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return "", 0, 0, err
	}
	defer f.Close()
	rss = -1
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch k {
		case "Name":
			name = strings.TrimSpace(v)
		case "VmRSS", "RssAnon":
			kb, err := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			if err != nil {
				return "", 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
			}
			if k == "VmRSS" {
				rss = kb * 1024
			} else {
				anon = kb * 1024
			}
		}
	}
	if rss < 0 {
		return name, 0, 0, nil // a kernel thread or a zombie
	}
	return name, rss, anon, nil
}

// readCgroupMemory reads a memory cgroup's usage, working set and peak.
func readCgroupMemory(dir string, v2 bool) (cgroupMemory, error) {
	var c cgroupMemory
	ws, err := workingSet(dir, v2)
	if err != nil {
		return c, err
	}
	c.WorkingSet = ws
	usage, peak := "memory.usage_in_bytes", "memory.max_usage_in_bytes"
	if v2 {
		usage, peak = "memory.current", "memory.peak"
	}
	if c.Usage, err = readInt(filepath.Join(dir, usage)); err != nil {
		return c, err
	}
	if p, err := readInt(filepath.Join(dir, peak)); err == nil {
		c.Peak = p
	}
	return c, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// procPSS is a process's proportional set size (smaps_rollup).
func procPSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "Pss:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/smaps_rollup: no Pss", pid)
}

// metricsServerPods reads the pods' memory from metrics-server's
// metrics.k8s.io API (the numbers `kubectl top pods` prints).
func metricsServerPods(ctx context.Context, c *cluster.Clients) (map[string]int64, error) {
	raw, err := c.CS.CoreV1().RESTClient().Get().AbsPath("/apis/metrics.k8s.io/v1beta1/pods").DoRaw(ctx)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []struct {
			Metadata   metav1.ObjectMeta `json:"metadata"`
			Containers []struct {
				Usage map[string]resource.Quantity `json:"usage"`
			} `json:"containers"`
		} `json:"items"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, fmt.Errorf("metrics.k8s.io pods: %w", err)
	}
	out := map[string]int64{}
	for _, it := range list.Items {
		var n int64
		for _, ctr := range it.Containers {
			q := ctr.Usage["memory"]
			n += q.Value()
		}
		out[it.Metadata.Namespace+"/"+it.Metadata.Name] = n
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("metrics.k8s.io: no pod metrics yet")
	}
	return out, nil
}

// logMemory logs the memory table.
func logMemory(t testing.TB, title string, m nodeMemory) {
	t.Helper()
	t.Logf("%s:\n%s", title, memoryTable(m))
}

// memoryTable formats the memory per pod and per process.
func memoryTable(m nodeMemory) string {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%s\tworking set (cgroup)\tmetrics-server\t\n", "POD")
	for _, k := range sortedKeys(m.Pods) {
		ms := "-"
		if v, ok := m.MetricsServer[k]; ok {
			ms = mib(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", k, mib(m.Pods[k]), ms)
	}
	fmt.Fprintf(tw, "%s\t%s\t\t\n", "pods total", mib(m.podsTotal()))
	fmt.Fprintf(tw, "%s\tRSS\tPSS\tanon RSS\t\n", "PROCESS")
	for _, k := range sortedKeys(m.Processes) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", k, mib(m.Processes[k]), mib(m.ProcessesPSS[k]), mib(m.ProcessesAnon[k]))
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", "processes total", mib(m.processesTotal()), mib(sum(m.ProcessesPSS)), mib(sum(m.ProcessesAnon)))
	fmt.Fprintf(tw, "%s\t%s\t%s\t\t\n", "node total (pods + processes)", mib(m.Total()), mib(m.TotalPSS()))
	if m.Cgroup.Usage > 0 {
		fmt.Fprintf(tw, "%s\t%s\t\t\t\n", "cluster cgroup working set", mib(m.Cgroup.WorkingSet))
		fmt.Fprintf(tw, "%s\t%s\t\t\t\n", "cluster cgroup usage (page cache incl.)", mib(m.Cgroup.Usage))
		fmt.Fprintf(tw, "%s\t%s\t\t\t\n", "cluster cgroup peak usage", mib(m.Cgroup.Peak))
	}
	tw.Flush()
	return b.String()
}

func sortedKeys(m map[string]int64) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }
