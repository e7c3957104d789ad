//go:build e2e

package e2e

import (
	"reflect"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit/edgestack"
	"github.com/edgeimg/edgeimg/internal/testkit/k0s"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

// TestLineSpec: the test spec names the line's k0s release, and only a
// line that refuses cgroup v1, on a cgroup v1 host, gets the opt-outs
// (the kubelet's failCgroupV1, k0s's pre-flight checks).
func TestLineSpec(t *testing.T) {
	optOut := []any{map[string]any{"name": "default", "values": map[string]any{"failCgroupV1": false}}}
	for _, tc := range []struct {
		line     string
		cgroupV2 bool
		profiles bool // the spec sets workerProfiles already
		want     any  // spec.k0s.config.spec.workerProfiles
		wantErr  bool
	}{
		{line: "1.33", want: nil},
		{line: "1.36", want: optOut},
		{line: "1.36", cgroupV2: true, want: nil},
		{line: "1.36", profiles: true, wantErr: true},
	} {
		l, err := k0s.LineNamed(tc.line)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := spec.Parse("e2e spec", []byte(edgestack.SpecYAML))
		if err != nil {
			t.Fatal(err)
		}
		if tc.profiles {
			doc.Spec.K0s.Config["spec"].(map[string]any)["workerProfiles"] = []any{map[string]any{"name": "default"}}
		}
		err = lineSpec(doc, l, tc.cgroupV2)
		if (err != nil) != tc.wantErr {
			t.Errorf("line %s, cgroup v2 %v: error %v, want error %v", tc.line, tc.cgroupV2, err, tc.wantErr)
			continue
		}
		if tc.wantErr {
			continue
		}
		if doc.Spec.K0s.Version != l.K0sVersion {
			t.Errorf("line %s: spec.k0s.version %s, want %s", tc.line, doc.Spec.K0s.Version, l.K0sVersion)
		}
		sp, _ := doc.Spec.K0s.Config["spec"].(map[string]any)
		if got := sp["workerProfiles"]; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("line %s, cgroup v2 %v: workerProfiles %#v, want %#v", tc.line, tc.cgroupV2, got, tc.want)
		}
		// The pre-flight opt-out goes with the kubelet's.
		if got, want := len(lineArgs(l, tc.cgroupV2)) > 0, tc.want != nil; got != want {
			t.Errorf("line %s, cgroup v2 %v: k0s flags %q", tc.line, tc.cgroupV2, lineArgs(l, tc.cgroupV2))
		}
	}
	if _, err := k0s.LineNamed("1.30"); err == nil {
		t.Error("LineNamed(1.30): no error for an unknown line")
	}
}
