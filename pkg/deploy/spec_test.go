package deploy_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/edgeimg/edgeimg/pkg/deploy"
	"github.com/edgeimg/edgeimg/pkg/spec"
)

func TestOptionsFromSpec(t *testing.T) {
	doc := func(timeout string, concurrency int, memory string) *spec.Document {
		d := &spec.Document{}
		d.Spec.K0s.Version = "v1.33.8+k0s.1"
		d.Spec.Deploy.Timeout = timeout
		d.Spec.Deploy.Concurrency = concurrency
		if memory != "" {
			d.Spec.Node.Memory = spec.MustQuantity(memory)
		}
		return d
	}
	tests := []struct {
		name    string
		doc     *spec.Document
		arch    string
		want    deploy.Options
		wantErr string
	}{
		{
			name: "spec defaults",
			doc:  doc(spec.DefaultDeployTimeout, spec.DefaultDeployConcurrency, "1Gi"),
			arch: "amd64",
			want: deploy.Options{K0sVersion: "v1.33.8+k0s.1", Arch: "amd64", Memory: 1 << 30, Timeout: 15 * time.Minute, Concurrency: 4},
		},
		{
			name: "set by the spec",
			doc:  doc("90s", 1, "1536Mi"),
			arch: "arm64",
			want: deploy.Options{K0sVersion: "v1.33.8+k0s.1", Arch: "arm64", Memory: 1536 << 20, Timeout: 90 * time.Second, Concurrency: 1},
		},
		{
			name: "no memory skips the preflight check, no arch reads the binary",
			doc:  doc("1h", 2, ""),
			want: deploy.Options{K0sVersion: "v1.33.8+k0s.1", Timeout: time.Hour, Concurrency: 2},
		},
		{
			name:    "bad timeout names the field",
			doc:     doc("soon", 4, "1Gi"),
			wantErr: "spec.deploy.timeout: ",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := deploy.OptionsFromSpec(tt.doc, tt.arch)
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) {
					t.Fatalf("OptionsFromSpec error = %v, want one starting with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("OptionsFromSpec: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("OptionsFromSpec = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestHostsFromSpec(t *testing.T) {
	tests := []struct {
		name  string
		hosts []spec.Host
		want  []deploy.Host
	}{
		{"none", nil, nil},
		{
			name: "in order, every field",
			hosts: []spec.Host{
				{Address: "10.0.0.5", Port: 22, User: "root"},
				{Address: "fd00::1", Port: 2222, User: "edge", KeyPath: "/keys/id_ed25519", Sudo: true},
			},
			want: []deploy.Host{
				{Address: "10.0.0.5", Port: 22, User: "root"},
				{Address: "fd00::1", Port: 2222, User: "edge", KeyPath: "/keys/id_ed25519", Sudo: true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &spec.Document{}
			d.Spec.Deploy.Hosts = tt.hosts
			if got := deploy.HostsFromSpec(d); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("HostsFromSpec = %+v, want %+v", got, tt.want)
			}
		})
	}
}
