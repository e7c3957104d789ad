//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
	"github.com/edgeimg/edgeimg/pkg/plan"
)

// workloadOf names the workload a pod belongs to as the plan does: its
// Deployment or DaemonSet, or the Knative Service of a Revision's pod.
func workloadOf(ctx context.Context, c *cluster.Clients, p *corev1.Pod) (string, error) {
	if s := p.Labels["serving.knative.dev/service"]; s != "" {
		return s, nil
	}
	for _, o := range p.OwnerReferences {
		switch o.Kind {
		case "DaemonSet":
			return o.Name, nil
		case "ReplicaSet":
			rs, err := c.CS.AppsV1().ReplicaSets(p.Namespace).Get(ctx, o.Name, metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			for _, ro := range rs.OwnerReferences {
				if ro.Kind == "Deployment" {
					return ro.Name, nil
				}
			}
		}
	}
	return "", fmt.Errorf("pod %s/%s: no Deployment, DaemonSet or Knative Service owns it", p.Namespace, p.Name)
}

// checkRequests compares every container's requests with the plan's.
func checkRequests(ctx context.Context, c *cluster.Clients, p *corev1.Pod, pl *plan.Plan) (matched []string, errs []string) {
	name, err := workloadOf(ctx, c, p)
	if err != nil {
		return nil, []string{err.Error()}
	}
	byID := map[string]plan.Workload{}
	for _, w := range pl.Workloads {
		byID[w.ID()] = w
	}
	check := func(ctr corev1.Container) {
		id := p.Namespace + "/" + name + "/" + ctr.Name
		w, ok := byID[id]
		if !ok {
			errs = append(errs, fmt.Sprintf("pod %s/%s container %s: %s is not in the plan", p.Namespace, p.Name, ctr.Name, id))
			return
		}
		cpu := ctr.Resources.Requests.Cpu().MilliValue()
		mem := ctr.Resources.Requests.Memory().Value()
		if cpu != w.Requests.CPUMilli || mem != w.Requests.MemoryBytes {
			errs = append(errs, fmt.Sprintf("%s: requests %dm CPU / %d bytes, the plan says %dm / %d",
				id, cpu, mem, w.Requests.CPUMilli, w.Requests.MemoryBytes))
		}
		matched = append(matched, id)
	}
	for _, ctr := range p.Spec.InitContainers {
		check(ctr)
	}
	for _, ctr := range p.Spec.Containers {
		check(ctr)
	}
	return matched, errs
}

// netnsClient is an HTTP client whose connections are made inside the
// node's network namespace, where Service and pod addresses are routed.
func netnsClient(netns string, timeout time.Duration) *http.Client {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			// The thread enters the namespace and is never unlocked, so
			// the runtime discards it when this goroutine ends; the socket
			// stays in the namespace it was made in.
			runtime.LockOSThread()
			fd, err := unix.Open("/run/netns/"+netns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
			if err != nil {
				ch <- result{nil, fmt.Errorf("open netns %s: %w", netns, err)}
				return
			}
			defer unix.Close(fd)
			if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", netns, err)}
				return
			}
			c, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
}

// activatorRequest sends GET / for a Revision to Knative's activator
// Service from inside the node's network namespace.
func (e *edge) activatorRequest(ctx context.Context, c *cluster.Clients, ns, revision string) (int, string, error) {
	return c.ActivatorRequest(ctx, netnsClient(e.k.NetNS, 2*time.Minute), ns, revision)
}

// k0sLogLines returns the lines of k0s's log that contain every one of
// the strings.
func (e *edge) k0sLogLines(all ...string) ([]string, error) {
	b, err := os.ReadFile(e.k.Log)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, s := range all {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out, nil
}

// k0sLogCount counts the lines of k0s's log that contain s.
func (e *edge) k0sLogCount(s string) (int, error) {
	b, err := os.ReadFile(e.k.Log)
	if err != nil {
		return 0, err
	}
	return strings.Count(string(b), s), nil
}
