package k0s

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// LineEnv names the k0s line the harness runs (`make e2e K0S_LINE=1.36`);
// hack/build-bins.sh and hack/build-containerd.sh read the same variable
// (hack/lib/lines.sh) and build that line's components.
const LineEnv = "K0S_LINE"

// DefaultLine is the line run when LineEnv is unset: the one CI can build
// from the Go module proxy alone.
const DefaultLine = "1.33"

// Line is one k0s release line the harness runs: what the harness's spec
// says of it and what the harness adapts to it.
type Line struct {
	// Name is the line as K0S_LINE gives it ("1.33").
	Name string
	// K0sVersion is the harness spec's spec.k0s.version: the k0s release
	// whose components the line builds.
	K0sVersion string
	// Kubernetes is the release of the Kubernetes components built for the
	// line (kube-proxy's image is tagged with it).
	Kubernetes string
	// Containerd is the containerd release built for the line.
	Containerd string
	// RefusesCgroupV1 is true from Kubernetes 1.35 on: the kubelet refuses
	// a cgroup v1 host unless its configuration sets failCgroupV1: false.
	RefusesCgroupV1 bool
	// CoreDNSUser is the user the CoreDNS image built here runs as. k0s
	// 1.33's CoreDNS Deployment adds NET_BIND_SERVICE under no_new_privs,
	// so port 53 needs root (no file capabilities then); 1.36's requires
	// runAsNonRoot, and containerd 2 opens the unprivileged ports in the
	// pod's network namespace (enable_unprivileged_ports), so it runs as
	// nonroot (65532) as upstream's image does.
	CoreDNSUser string
}

// lines are the lines the build scripts know (hack/lib/lines.sh).
func lines() []Line {
	return []Line{
		{Name: "1.33", K0sVersion: "v1.33.8+k0s.1", Kubernetes: "v1.33.13", Containerd: "1.7.30"},
		{Name: "1.36", K0sVersion: "v1.36.3+k0s.2", Kubernetes: "v1.36.3", Containerd: "2.3.3", RefusesCgroupV1: true, CoreDNSUser: "65532"},
	}
}

// LineNamed returns the line of that name.
func LineNamed(name string) (Line, error) {
	var names []string
	for _, l := range lines() {
		if l.Name == name {
			return l, nil
		}
		names = append(names, l.Name)
	}
	return Line{}, fmt.Errorf("%s=%q: unknown k0s line (want one of %s)", LineEnv, name, strings.Join(names, ", "))
}

// CurrentLine is the line LineEnv names, DefaultLine when it is unset.
func CurrentLine() (Line, error) {
	name := os.Getenv(LineEnv)
	if name == "" {
		name = DefaultLine
	}
	return LineNamed(name)
}

// KnativeMin is the harness spec's spec.knative.kubernetesMinVersion on
// this line: the line's minor where Knative 1.23 (the release the spec
// renders; it supports Kubernetes 1.34 to 1.36) does not support it, else
// empty. The 1.33 line is what CI can build (the k0s module is not served
// past 1.33); the harness's Knative images are built from a serving
// commit whose own minimum is 1.32, and the setting makes the product
// accept the pairing and tell Knative's controllers so.
func (l Line) KnativeMin() string {
	p := strings.SplitN(strings.TrimPrefix(l.Kubernetes, "v"), ".", 3)
	if len(p) < 2 {
		return ""
	}
	if n, err := strconv.Atoi(p[1]); err == nil && p[0] == "1" && n < 34 {
		return "1." + p[1]
	}
	return ""
}
