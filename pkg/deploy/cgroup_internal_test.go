package deploy

import (
	"strings"
	"testing"
)

func TestCheckCgroup(t *testing.T) {
	tests := []struct {
		fs, k0s string
		allow   bool
		fail    bool
		want    string
	}{
		{"cgroup2fs", "v1.36.3+k0s.2", false, false, "cgroup v2"},
		{"cgroup2fs", "v1.33.8+k0s.1", false, false, "cgroup v2"},
		{"tmpfs", "v1.36.3+k0s.2", false, true, kubeletCgroupV1Refusal},
		{"tmpfs", "v1.37.0+k0s.0", false, true, "runs Kubernetes 1.37"},
		{"tmpfs", "v1.35.0+k0s.0", true, false, kubeletCgroupV1Warning},
		{"tmpfs", "v1.34.11+k0s.0", false, false, kubeletCgroupV1Old},
		{"tmpfs", "dev", false, false, "names no Kubernetes version"},
		{"", "v1.36.3+k0s.2", false, false, "could not read"},
	}
	for _, tt := range tests {
		t.Run(tt.fs+" "+tt.k0s, func(t *testing.T) {
			msg, fail := checkCgroup(tt.fs, tt.k0s, tt.allow)
			if fail != tt.fail || !strings.Contains(msg, tt.want) {
				t.Errorf("checkCgroup = %q, %v; want fail %v and %q", msg, fail, tt.fail, tt.want)
			}
		})
	}
}
