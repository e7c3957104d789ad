package deploy

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// Kubernetes' own words for cgroup v1 hosts (k8s.io/kubernetes v1.36.3,
// pkg/kubelet/apis/config/validation/validation_linux.go and
// pkg/kubelet/cm/container_manager.go CgroupV1DeprecatedWarning; 1.33's
// CgroupV1MaintenanceModeWarning).
const (
	kubeletCgroupV1Refusal = "kubelet is configured to not run on a host using cgroup v1. cgroup v1 support is unsupported and will be removed in a future release"
	kubeletCgroupV1Warning = "cgroup v1 detected. cgroup v1 support is deprecated and will be removed in a future release. Please migrate to cgroup v2. More information at https://git.k8s.io/enhancements/keps/sig-node/5573-remove-cgroup-v1"
	kubeletCgroupV1Old     = "cgroup v1 support is in maintenance mode, please migrate to cgroup v2"
)

// failCgroupV1Since is the first Kubernetes minor whose kubelet refuses a
// cgroup v1 host by default (KubeletConfiguration failCgroupV1: true).
const failCgroupV1Since = 35

// optOutField is where a spec opts a node's kubelet out of the refusal.
const optOutField = "failCgroupV1: false in the kubelet worker profile \"default\" (spec.k0s.config: spec.workerProfiles[{name: default, values: {failCgroupV1: false}}])"

// cgroupFS is the file system type of the host's /sys/fs/cgroup, read
// with a fixed argv: cgroup2fs on a cgroup v2 host, tmpfs on a cgroup v1
// or hybrid one; "" when stat fails.
func cgroupFS(ctx context.Context, r *remote) string {
	out, err := r.run(ctx, `exec "$@"`, []string{"stat", "-fc", "%T", "/sys/fs/cgroup"}, nil)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// checkCgroup is preflight's word on the host's cgroup version for a
// payload of k0s version k0sVersion: a cgroup v1 host is refused for
// Kubernetes 1.35 and later unless allowV1 (the spec opts out), with
// Kubernetes' own wording either way.
func checkCgroup(fsType, k0sVersion string, allowV1 bool) (msg string, fail bool) {
	minor, ok := kubernetesMinor(k0sVersion)
	switch {
	case fsType == "cgroup2fs":
		return "cgroup v2 (/sys/fs/cgroup is cgroup2fs)", false
	case fsType == "":
		return "cgroup: could not read /sys/fs/cgroup's file system type (stat -fc %T); k0s sysinfo checks at install", false
	case !ok:
		return fmt.Sprintf("cgroup v1 host (/sys/fs/cgroup is %s); k0s %q names no Kubernetes version to judge it by", fsType, k0sVersion), false
	case minor < failCgroupV1Since:
		return fmt.Sprintf("cgroup v1 host (/sys/fs/cgroup is %s): Kubernetes 1.%d runs on it and warns %q", fsType, minor, kubeletCgroupV1Old), false
	case allowV1:
		return fmt.Sprintf("cgroup v1 host (/sys/fs/cgroup is %s): allowed by the spec's %s; the kubelet of Kubernetes 1.%d will warn %q",
			fsType, "failCgroupV1: false", minor, kubeletCgroupV1Warning), false
	}
	return fmt.Sprintf("cgroup v1 host (/sys/fs/cgroup is %s): Kubernetes 1.35 and later need cgroup v2, and k0s %s runs Kubernetes 1.%d, whose kubelet would stop with %q. "+
		"Boot the host with cgroup v2 (systemd.unified_cgroup_hierarchy=1, or a distribution that mounts only cgroup2), "+
		"or opt out explicitly with %s and accept Kubernetes' warning %q",
		fsType, k0sVersion, minor, kubeletCgroupV1Refusal, optOutField, kubeletCgroupV1Warning), true
}

// kubernetesMinor is 36 for k0s v1.36.3+k0s.2 (k0s versions are the
// Kubernetes version they embed, plus +k0s.N).
func kubernetesMinor(k0sVersion string) (int, bool) {
	v := strings.TrimPrefix(k0sVersion, "v")
	parts := strings.SplitN(v, ".", 3)
	if len(parts) < 3 || parts[0] != "1" {
		return 0, false
	}
	n, err := strconv.Atoi(parts[1])
	return n, err == nil
}
