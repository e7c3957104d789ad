package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/k0sproject/k0s/pkg/apis/k0s/v1beta1"

	"github.com/edgeimg/edgeimg/internal/fixtures"
	"github.com/edgeimg/edgeimg/pkg/fsutil"
)

func runApp(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return runAppAt(t, time.Now, args...)
}

// runAppAt runs the app with now as its clock.
func runAppAt(t *testing.T, now func() time.Time, args ...string) (string, error) {
	t.Helper()
	app := newAppAt(now)
	var out bytes.Buffer
	app.Writer = &out
	app.ErrWriter = &out
	err := app.Run(append([]string{"edgeimg"}, withUpstream(t, args)...))
	return out.String(), err
}

// withUpstream points commands that render at the upstream fixtures, so
// tests never download.
func withUpstream(t *testing.T, args []string) []string {
	if len(args) == 0 || args[0] == "spec" || args[0] == "versions" || slices.Contains(args, "--upstream") {
		return args
	}
	for _, a := range args[1:] {
		if a == "--help" || a == "-h" {
			return args
		}
	}
	return append([]string{args[0], "--upstream", fixtures.Upstream(t)}, args[1:]...)
}

func TestK0sconfigCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		want    []string // substrings of stdout
		wantErr string
	}{
		{"yaml", []string{"k0sconfig"}, []string{"kind: ClusterConfig", "type: kine", "default_pull_policy: Never"}, ""},
		{"flags", []string{"k0sconfig", "--flags", "--k0s-disable-components", "metrics-server"}, []string{"--single --disable-components=metrics-server -c /etc/k0s/k0s.yaml\n"}, ""},
		{"unit", []string{"k0sconfig", "--unit", "--k0s-path", "/opt/bin/k0s"}, []string{"ExecStart=/opt/bin/k0s controller --config=/etc/k0s/k0s.yaml --single=true\n"}, ""},
		{"images", []string{"k0sconfig", "--images", "--k0s-network", "bridge"}, []string{"quay.io/k0sproject/pause:3.10.2-0\n"}, ""},
		{"dry run", []string{"k0sconfig", "--dry-run"}, []string{"# fully defaulted spec", "kind: Image"}, ""},
		{"two modes", []string{"k0sconfig", "--flags", "--images"}, nil, "expected at most one of"},
		{"bad component", []string{"k0sconfig", "--set", "k0s.disableComponents=metric-server"}, nil, "spec.k0s.disableComponents[0]"},
		{"relative k0s path", []string{"k0sconfig", "--unit", "--k0s-path", "k0s"}, nil, "expected an absolute path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runApp(t, tt.args...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestK0sconfigOutputFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k0s.yaml")
	if _, err := runApp(t, "k0sconfig", "-o", path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v1beta1.ConfigFromBytes(data); err != nil {
		t.Fatalf("written k0s.yaml does not parse: %v", err)
	}
	_, err = runApp(t, "k0sconfig", "-o", path, "--k0s-network", "bridge")
	if !errors.Is(err, fsutil.ErrExists) {
		t.Fatalf("overwrite without --force: err = %v", err)
	}
	if again, _ := os.ReadFile(path); !bytes.Equal(again, data) {
		t.Error("the refused write changed the file")
	}
	if _, err := runApp(t, "k0sconfig", "-o", path, "--force", "--k0s-network", "bridge"); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(path); !bytes.Contains(again, []byte("provider: custom")) {
		t.Errorf("--force did not replace the file:\n%s", again)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left-overs next to the output: %v", entries)
	}
}
