//go:build e2evm

package e2evm

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/edgeimg/edgeimg/internal/testkit/cluster"
)

// podStates counts the pods by state: Ready, or the reason their first
// waiting container gives (CreateContainerError, ...), or their phase.
func podStates(ctx context.Context, c *cluster.Clients) string {
	list, err := c.CS.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return err.Error()
	}
	n := map[string]int{}
	for _, p := range list.Items {
		st := string(p.Status.Phase)
		for _, cs := range p.Status.ContainerStatuses {
			if w := cs.State.Waiting; w != nil {
				st = w.Reason
				if w.Message != "" {
					st += " (" + w.Message + ")"
				}
				break
			}
		}
		if st == string(corev1.PodRunning) {
			for _, cond := range p.Status.Conditions {
				if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
					st = "Ready"
				}
			}
		}
		n[st]++
	}
	var out []string
	for st, k := range n {
		out = append(out, fmt.Sprintf("%d %s", k, st))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}
