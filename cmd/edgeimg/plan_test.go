package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/edgeimg/edgeimg/internal/fixtures"
)

func exitCode(err error) int {
	var ec cli.ExitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}

func TestPlanCommand(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"default fits", []string{"plan"}, 0, []string{"knative-serving/activator", "300m→", "kube-system/coredns", "default/hello", "queue-proxy", "allocatable", "verdict: FITS"}},
		{"untransformed does not fit", []string{"plan", "--resources-strategy", "none"}, exitDoesNotFit, []string{"verdict: DOES NOT FIT", "535m CPU"}},
		{"1 GiB", []string{"plan", "--node-memory", "1Gi"}, exitDoesNotFit, []string{"1024Mi", "exceeds the node's memory", "verdict: DOES NOT FIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runApp(t, tt.args...)
			if got := exitCode(err); got != tt.code {
				t.Fatalf("exit %d (%v), want %d\n%s", got, err, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestPlanJSON(t *testing.T) {
	out, err := runApp(t, "plan", "--json", "--resources-strategy", "none")
	if exitCode(err) != exitDoesNotFit {
		t.Fatalf("exit %d: %v", exitCode(err), err)
	}
	var doc struct {
		Fits bool `json:"fits"`
		Node struct {
			CPUMilli    int64 `json:"cpu_millis"`
			Allocatable int64 `json:"allocatable_cpu_millis"`
		} `json:"node"`
		Workloads []map[string]any `json:"workloads"`
		Totals    map[string]any   `json:"totals"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.Fits || doc.Node.CPUMilli != 1000 || doc.Node.Allocatable == 0 || len(doc.Workloads) < 10 || doc.Totals == nil {
		t.Errorf("plan JSON = %+v", doc)
	}
}

func TestManifestsCommand(t *testing.T) {
	out := filepath.Join(t.TempDir(), "stack")
	text, err := runApp(t, "manifests", "-o", out, "--changes")
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	for _, f := range []string{
		"var/lib/k0s/manifests/knative-serving/serving-core.yaml",
		"var/lib/k0s/manifests/kourier/kourier.yaml",
		"var/lib/k0s/manifests/metallb/metallb-native.yaml",
		"var/lib/edgeimg/staged/metallb-config/metallb-config.yaml",
		"var/lib/edgeimg/staged/knative-services/services.yaml",
		"usr/local/libexec/edgeimg/promote-staged",
		"etc/systemd/system/edgeimg-promote.service",
	} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	if st, err := os.Stat(filepath.Join(out, "usr/local/libexec/edgeimg/promote-staged")); err == nil && st.Mode().Perm()&0o111 == 0 {
		t.Errorf("promoter is not executable: %v", st.Mode())
	}
	if !strings.Contains(text, "staged in metallb-config") || !strings.Contains(text, "ingress-class") {
		t.Errorf("--changes output lacks the documented changes:\n%s", text)
	}

	// An existing output is never replaced without --force.
	if _, err := runApp(t, "manifests", "-o", out); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second run without --force: %v", err)
	}
	if _, err := runApp(t, "manifests", "-o", out, "--force"); err != nil {
		t.Errorf("--force: %v", err)
	}
}

func TestManifestsBadInputLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	// An upstream dir with a tampered catalog file.
	up := filepath.Join(dir, "upstream")
	for _, rel := range []string{"knative-serving/1.23.0/serving-core.yaml", "net-kourier/1.23.0/kourier.yaml", "metallb/v0.15.3/metallb-native.yaml"} {
		data, err := os.ReadFile(filepath.Join(fixtures.Upstream(t), rel))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(rel, "metallb") {
			data = append(data, "# edited\n"...)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(up, rel)), 0o755)
		os.WriteFile(filepath.Join(up, rel), data, 0o644)
	}
	spec := filepath.Join(dir, "bad.yaml")
	os.WriteFile(spec, []byte("apiVersion: edgeimg.io/v1alpha1\nkind: Image\nspec:\n  metallb:\n    addresses: [10.0.0.0/24, 10.0.0.128/25]\n"), 0o644)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"checksum mismatch", []string{"manifests", "--upstream", up}, "checksum mismatch"},
		{"overlapping ranges", []string{"manifests", "-f", spec}, "spec.metallb.addresses[1]"},
		{"missing upstream file", []string{"manifests", "--upstream", filepath.Join(dir, "nowhere")}, "not found"},
		{"bad quantity flag", []string{"manifests", "--node-memory", "lots"}, "--node-memory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+strings.ReplaceAll(tt.name, " ", "-"))
			_, err := runApp(t, append(tt.args, "-o", out)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Errorf("%s exists after a failed run", out)
			}
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if strings.Contains(e.Name(), ".tmp-") {
					t.Errorf("temp dir %s left behind", e.Name())
				}
			}
		})
	}
}

// TestDryRunEverywhere: every command that reads a spec prints the fully
// defaulted spec under --dry-run and changes nothing.
func TestDryRunEverywhere(t *testing.T) {
	for _, args := range [][]string{
		{"plan"},
		{"k0sconfig"},
		{"manifests", "-o", "OUT"},
		{"images", "pull"},
		{"images", "preload", "--root", "OUT"},
		{"images", "bundle", "-o", "OUT"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir()
			cacheDir := filepath.Join(dir, "cache")
			for i, a := range args {
				if a == "OUT" {
					args[i] = filepath.Join(dir, "out")
				}
			}
			cmd := append([]string{"--cache-dir", cacheDir}, args...)
			cmd = append(cmd, "--dry-run", "--upstream", fixtures.Upstream(t))
			app := newApp()
			var out strings.Builder
			app.Writer, app.ErrWriter = &out, &out
			if err := app.Run(append([]string{"edgeimg"}, cmd...)); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "# fully defaulted spec\napiVersion: edgeimg.io/v1alpha1") {
				t.Errorf("no defaulted spec printed:\n%s", out.String())
			}
			if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
				t.Error("--dry-run wrote its output")
			}
			if entries, _ := os.ReadDir(filepath.Join(cacheDir, "blobs")); len(entries) > 0 {
				t.Error("--dry-run downloaded into the cache")
			}
		})
	}
}
