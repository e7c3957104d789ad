package k0s

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/edgeimg/edgeimg/internal/testkit/ctrd"
)

// TestContainerdDropIn has each containerd the k0s lines run read the
// harness's drop-in through its imports (as k0s's generated config imports
// /etc/k0s/containerd.d/*.toml) and checks, in `containerd config dump`,
// that the settings landed in that release's CRI plugin.
func TestContainerdDropIn(t *testing.T) {
	for _, tc := range []struct {
		version, plugin, binDirs string
	}{
		{ctrd.Version, `plugins."io.containerd.grpc.v1.cri"`, `bin_dir = "/cni/bin"`},
		{ctrd.Version2, `plugins."io.containerd.cri.v1.runtime"`, `bin_dirs = ["/cni/bin"]`},
	} {
		t.Run("containerd "+tc.version, func(t *testing.T) {
			bin := ctrd.NeedVersion(t, tc.version)
			major, err := ctrd.MajorVersion(bin)
			if err != nil {
				t.Fatal(err)
			}
			dropIn, err := containerdDropIn(major, "/cni/bin", "/cni/net.d")
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "00-edgeimg-testkit.toml"), []byte(dropIn), 0o644); err != nil {
				t.Fatal(err)
			}
			mainCfg := filepath.Join(t.TempDir(), "config.toml")
			// The config version the release's own generated config has.
			if err := os.WriteFile(mainCfg, []byte(fmt.Sprintf("version = %d\nimports = [%q]\n", major+1, filepath.Join(dir, "*.toml"))), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(filepath.Join(bin, "containerd"), "--config", mainCfg, "config", "dump").CombinedOutput()
			if err != nil {
				t.Fatalf("containerd config dump: %v\n%s", err, out)
			}
			got := tomlEntries(string(out))
			for key, want := range map[string]string{
				tc.plugin + ".restrict_oom_score_adj":               "restrict_oom_score_adj = true",
				tc.plugin + ".cni.conf_dir":                         `conf_dir = "/cni/net.d"`,
				tc.plugin + ".cni." + strings.Fields(tc.binDirs)[0]: tc.binDirs,
			} {
				if got[key] != want {
					t.Errorf("containerd %s config dump: %s: got %q, want %q", tc.version, key, got[key], want)
				}
			}
		})
	}
	if _, err := containerdDropIn(3, "/cni/bin", "/cni/net.d"); err == nil {
		t.Error("containerdDropIn(3): no error for an unknown containerd release")
	}
}

// tomlEntries maps "<table>.<key>" to the "key = value" line of a TOML
// document as containerd prints it (every table under its full header;
// 2.x quotes strings with ', 1.7 with ", taken here as ").
func tomlEntries(doc string) map[string]string {
	out := map[string]string{}
	table := ""
	for _, line := range strings.Split(doc, "\n") {
		line = strings.ReplaceAll(strings.TrimSpace(line), "'", `"`)
		switch {
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			table = strings.Trim(line, "[]")
		case strings.Contains(line, " = "):
			key, _, _ := strings.Cut(line, " = ")
			out[table+"."+key] = line
		}
	}
	return out
}
