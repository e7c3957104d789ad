package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/edgeimg/edgeimg/pkg/k0spath"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

// waitPhase waits until the node is Ready, every stack of the payload is
// applied (all its objects exist) and every pod is ready, up to
// Options.Timeout; on timeout it names what is still failing.
type waitPhase struct{ s *hostState }

func (p *waitPhase) Title() string { return "Wait for the node and the stacks" }

// pollInterval is how often the wait phase asks the API.
const pollInterval = 5 * time.Second

// stacks lists the payload's live stacks (directories of
// <DataDir>/manifests) and staged ones (directories of StagedDir, which
// the promoter unit moves into the manifests dir once their webhooks serve).
func stacks(o *Options) (live, staged []string) {
	return subdirs(o.Payload, k0spath.Manifests(o.DataDir)), subdirs(o.Payload, o.StagedDir)
}

// subdirs names the directories right under dir that hold *.yaml files.
func subdirs(p *payload.Payload, dir string) []string {
	seen := map[string]bool{}
	var out []string
	for _, f := range p.Files {
		rest, ok := strings.CutPrefix(f.Path, dir+"/")
		if !ok {
			continue
		}
		name, file, ok := strings.Cut(rest, "/")
		if ok && !strings.Contains(file, "/") && strings.HasSuffix(file, ".yaml") && !seen[name] {
			seen[name] = true
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (p *waitPhase) DryRun(_ context.Context, w io.Writer) error {
	s := p.s
	live, staged := stacks(s.opts)
	fmt.Fprintf(w, "  would wait up to %s for the node to be Ready, stacks %s applied, staged stacks %s promoted and applied, and every pod ready\n",
		s.opts.Timeout, strings.Join(live, ", "), strings.Join(staged, ", "))
	return nil
}

func (p *waitPhase) Run(ctx context.Context) error {
	s := p.s
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	start := time.Now()
	last := ""
	for {
		problems, err := p.check(ctx)
		if err == nil && len(problems) == 0 {
			live, staged := stacks(s.opts)
			s.log.printf("  node Ready, %d stacks and %d staged stacks applied, all pods ready after %s", len(live), len(staged), time.Since(start).Round(time.Second))
			return nil
		}
		status := strings.Join(problems, "; ")
		if err != nil {
			status = waitStatus(err)
		}
		if status != last {
			s.log.printf("  waiting: %s", status)
			last = status
		}
		select {
		case <-ctx.Done():
			if ctx.Err() == context.DeadlineExceeded {
				return fmt.Errorf("not ready after %s: %s", s.opts.Timeout, status)
			}
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// waitStatus is err on one line: a remote command's stderr is cut to its
// last line. While the API server is down, kubectl prints client-go's
// retries, each with its own time stamp, before its summary ("The
// connection to the server localhost:6443 was refused"): the whole text
// would differ at every poll and be logged every time, over many lines.
func waitStatus(err error) string {
	msg := err.Error()
	var ee *exitError
	if !errors.As(err, &ee) || !strings.Contains(ee.stderr, "\n") {
		return msg
	}
	lines := strings.Split(ee.stderr, "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if i := strings.LastIndex(msg, ee.stderr); i >= 0 {
		return msg[:i] + last + msg[i+len(ee.stderr):]
	}
	return last
}

// check returns what is not ready yet; an error when the API cannot be asked.
func (p *waitPhase) check(ctx context.Context) ([]string, error) {
	s := p.s
	o, r := s.opts, s.r
	kubectl := func(args ...string) (string, error) {
		return r.k0s(ctx, o, append([]string{"kubectl", "--kubeconfig=" + path.Join(o.DataDir, "pki/admin.conf")}, args...)...)
	}
	out, err := kubectl("get", "nodes", "-o", "json")
	if err != nil {
		return nil, err
	}
	problems, err := nodeProblems([]byte(out))
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		return problems, nil
	}
	live, staged := stacks(o)
	for _, st := range append(live, staged...) {
		dir := path.Join(k0spath.Manifests(o.DataDir), st)
		if slices.Contains(staged, st) {
			_, err := r.run(ctx, `[ -d "$1" ]`, []string{dir}, nil)
			switch {
			case err != nil && exitStatus(err) < 0:
				// Not an answer from the host (connection, sudo).
				return nil, fmt.Errorf("look for %s: %w", dir, err)
			case err != nil:
				problems = append(problems, fmt.Sprintf("staged stack %s: not promoted yet (see journalctl -u %s)", st, strings.Join(o.Units, ", ")))
				continue
			}
		}
		if _, err := kubectl("get", "-f", dir, "-o", "name"); err != nil {
			msg := err.Error()
			var ee *exitError
			if errors.As(err, &ee) && ee.stderr != "" {
				msg = ee.stderr
			}
			problems = append(problems, fmt.Sprintf("stack %s: %s", st, firstLine(msg)))
		}
	}
	out, err = kubectl("get", "pods", "--all-namespaces", "-o", "json")
	if err != nil {
		return nil, err
	}
	pods, err := podProblems([]byte(out))
	if err != nil {
		return nil, err
	}
	return append(problems, pods...), nil
}

type condition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
	Message string `json:"message"`
}

// nodeProblems reads `kubectl get nodes -o json` and names nodes that are
// not Ready.
func nodeProblems(data []byte) ([]string, error) {
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
			Status   struct {
				Conditions []condition `json:"conditions"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("read nodes: %w", err)
	}
	if len(list.Items) == 0 {
		return []string{"no node registered yet"}, nil
	}
	var out []string
	for _, n := range list.Items {
		ready := false
		msg := "no Ready condition yet"
		for _, c := range n.Status.Conditions {
			if c.Type == "Ready" {
				ready = c.Status == "True"
				msg = strings.TrimSpace(c.Reason + ": " + c.Message)
			}
		}
		if !ready {
			out = append(out, fmt.Sprintf("node %s not Ready (%s)", n.Metadata.Name, msg))
		}
	}
	return out, nil
}

type containerStatus struct {
	Name  string `json:"name"`
	Ready bool   `json:"ready"`
	State struct {
		Waiting *struct {
			Reason  string `json:"reason"`
			Message string `json:"message"`
		} `json:"waiting"`
		Terminated *struct {
			Reason   string `json:"reason"`
			ExitCode int    `json:"exitCode"`
		} `json:"terminated"`
	} `json:"state"`
	RestartCount int `json:"restartCount"`
}

// podProblems reads `kubectl get pods -A -o json` and names pods that are
// neither ready nor completed, with the reason of the first failing container.
func podProblems(data []byte) ([]string, error) {
	var list struct {
		Items []struct {
			Metadata struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Status struct {
				Phase                 string            `json:"phase"`
				Conditions            []condition       `json:"conditions"`
				InitContainerStatuses []containerStatus `json:"initContainerStatuses"`
				ContainerStatuses     []containerStatus `json:"containerStatuses"`
			} `json:"status"`
		} `json:"items"`
	}
	if err := json.Unmarshal(data, &list); err != nil {
		return nil, fmt.Errorf("read pods: %w", err)
	}
	var out []string
	for _, pod := range list.Items {
		st := pod.Status
		if st.Phase == "Succeeded" {
			continue
		}
		ready := false
		why := st.Phase
		for _, c := range st.Conditions {
			switch {
			case c.Type == "Ready" && c.Status == "True":
				ready = true
			case c.Type == "PodScheduled" && c.Status == "False":
				why = strings.TrimSpace("unschedulable: " + c.Message)
			}
		}
		if ready {
			continue
		}
		for _, cs := range append(st.InitContainerStatuses, st.ContainerStatuses...) {
			if cs.Ready {
				continue
			}
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				why = fmt.Sprintf("container %s %s", cs.Name, strings.TrimSpace(w.Reason+" "+firstLine(w.Message)))
				break
			}
			if t := cs.State.Terminated; t != nil && t.Reason != "Completed" {
				why = fmt.Sprintf("container %s %s (exit %d)", cs.Name, t.Reason, t.ExitCode)
				break
			}
		}
		out = append(out, fmt.Sprintf("pod %s/%s %s", pod.Metadata.Namespace, pod.Metadata.Name, why))
	}
	return out, nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
