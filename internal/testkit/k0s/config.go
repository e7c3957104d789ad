package k0s

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
	"gopkg.in/yaml.v3"
)

// envArgs runs the command through env(1) with env added: a POSIX shell
// drops variables whose names are not shell identifiers (such as
// KUBE-APISERVER_GOGC) from the environment of what it execs.
func envArgs(env map[string]string) []string {
	if len(env) == 0 {
		return nil
	}
	args := []string{"/usr/bin/env"}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		args = append(args, k+"="+env[k])
	}
	return args
}

// k0sConfigFor sets spec.api.address (and sans) and turns telemetry off in
// a k0s.yaml, keeping every other field.
func k0sConfigFor(cfgYAML, address string) ([]byte, error) {
	var doc map[string]any
	if err := yaml.Unmarshal([]byte(cfgYAML), &doc); err != nil {
		return nil, fmt.Errorf("k0s config: %w", err)
	}
	if doc == nil || doc["kind"] != "ClusterConfig" {
		return nil, fmt.Errorf("k0s config: want kind ClusterConfig, got %v", doc["kind"])
	}
	child := func(m map[string]any, key string) (map[string]any, error) {
		switch v := m[key].(type) {
		case nil:
			c := map[string]any{}
			m[key] = c
			return c, nil
		case map[string]any:
			return v, nil
		default:
			return nil, fmt.Errorf("k0s config: %s is %T, want a mapping", key, v)
		}
	}
	spec, err := child(doc, "spec")
	if err != nil {
		return nil, err
	}
	api, err := child(spec, "api")
	if err != nil {
		return nil, err
	}
	api["address"] = address
	sans, _ := api["sans"].([]any)
	api["sans"] = append(sans, address)
	tel, err := child(spec, "telemetry")
	if err != nil {
		return nil, err
	}
	tel["enabled"] = false
	return yaml.Marshal(doc)
}

func runCmd(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// dropPageCache writes back and drops the page cache of every regular file
// under dir (posix_fadvise DONTNEED), so the next reader is charged for it.
func dropPageCache(dir string) error {
	return filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("drop page cache: %w", err)
		}
		defer f.Close()
		if err := unix.Fdatasync(int(f.Fd())); err != nil {
			return fmt.Errorf("drop page cache: fdatasync %s: %w", p, err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("drop page cache: fadvise %s: %w", p, err)
		}
		return nil
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
