package k0sconfig_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	k0sinstall "github.com/k0sproject/k0s/cmd/install"

	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
	"github.com/edgeimg/edgeimg/pkg/k0spath"
)

// oracleEnv makes the test binary act as `k0s install controller` inside a
// private mount namespace (see runInstallOracle) instead of running tests.
// oracleStageEnv marks the second stage: kardianos/service detects the init
// system when its package initializes, so the mounts are set up first and
// the binary re-executes itself to be initialized inside them.
const (
	oracleEnv      = "EDGEIMG_K0S_INSTALL_ORACLE"
	oracleStageEnv = "EDGEIMG_K0S_INSTALL_ORACLE_STAGE"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(cniOracleEnv); dir != "" {
		if err := runCNIOracle(dir); err != nil {
			fmt.Fprintln(os.Stderr, "CNI oracle:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if dir := os.Getenv(oracleEnv); dir != "" {
		var err error
		if os.Getenv(oracleStageEnv) == "" {
			err = prepareOracleMounts(dir)
		} else {
			err = runInstallOracle(dir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "k0s install oracle:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// unitCases are the configurations the unit is checked with.
var unitCases = []struct {
	name string
	spec string
	opts []k0sconfig.Option
}{
	{"default", header, nil},
	{"bridge, disabled components", header + "spec:\n  k0s:\n    network: bridge\n    disableComponents: [metrics-server, konnectivity-server, helm]\n", nil},
	{"data dir", header, []k0sconfig.Option{k0sconfig.WithDataDir("/srv/k0s data")}},
	{"environment", header + "spec:\n  k0s:\n    env: {KUBE-APISERVER_GOGC: \"50\", GOMEMLIMIT: 40MiB, HTTPS_PROXY: \"http://proxy.local:3128\"}\n", nil},
	{"percent in environment", header + percentEnv, nil},
}

// percentEnv has values systemd would expand as specifiers if unescaped.
const percentEnv = "spec:\n  k0s:\n    env: {A: \"50%\", B: \"x%hy\", C: \"%Q%%\"}\n"

// TestUnitEnvironmentPercent: '%' in k0s.env reaches the unit as '%%', which
// systemd's own parser (systemd-analyze verify) reads without resolving a
// specifier; the same unit unescaped is reported, so the check can fail.
func TestUnitEnvironmentPercent(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		skipOrFail(t, "systemd-analyze not found (apt-get install systemd)")
	}
	c, err := k0sconfig.Build(parseSpec(t, header+percentEnv), k0sconfig.Reservations{})
	if err != nil {
		t.Fatal(err)
	}
	unit := string(c.Unit("/bin/true"))
	for _, want := range []string{`Environment="A=50%%"`, `Environment="B=x%%hy"`, `Environment="C=%%Q%%%%"`} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %s:\n%s", want, unit)
		}
	}
	verify := func(unit string) string {
		dir := t.TempDir()
		path := filepath.Join(dir, "k0scontroller.service")
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
		out, _ := exec.Command(analyze, "verify", "--man=no", path).CombinedOutput()
		return string(out)
	}
	if out := verify(unit); strings.Contains(out, "specifier") {
		t.Errorf("systemd-analyze verify resolves specifiers in the unit:\n%s", out)
	}
	if out := verify(strings.ReplaceAll(unit, "%%", "%")); !strings.Contains(out, "Failed to resolve specifiers") {
		t.Errorf("systemd-analyze verify accepts unescaped %%Q; the check cannot fail:\n%s", out)
	}
}

// TestInstallFlagsParseWithK0s parses InstallFlags with k0s's own
// `install controller` command line.
func TestInstallFlagsParseWithK0s(t *testing.T) {
	for _, tt := range unitCases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := k0sconfig.Build(parseSpec(t, tt.spec), k0sconfig.Reservations{}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			root := k0sinstall.NewInstallCmd()
			ctl, _, err := root.Find([]string{"controller"})
			if err != nil || ctl.Name() != "controller" {
				t.Fatalf("k0s install has no controller command: %v", err)
			}
			if err := ctl.ParseFlags(c.InstallFlags()); err != nil {
				t.Fatalf("k0s rejects %q: %v", c.InstallFlags(), err)
			}
			if args := ctl.Flags().Args(); len(args) != 0 {
				t.Errorf("k0s sees positional arguments %q", args)
			}
			if v, _ := ctl.Flags().GetBool("single"); !v {
				t.Error("--single not set")
			}
			if v, _ := ctl.Flags().GetString("config"); v != k0spath.Config {
				t.Errorf("--config = %q", v)
			}
			if v, _ := ctl.Flags().GetString("data-dir"); v != "" && v != c.DataDir {
				t.Errorf("--data-dir = %q, want %q", v, c.DataDir)
			}
			if v, _ := ctl.Flags().GetStringArray("env"); len(v) != len(c.Env) {
				t.Errorf("--env = %q, want %d variables", v, len(c.Env))
			}
			if v, _ := ctl.Flags().GetStringSlice("disable-components"); !slices.Equal(v, c.DisabledComponents) && len(v)+len(c.DisabledComponents) > 0 {
				t.Errorf("--disable-components = %q, want %q", v, c.DisabledComponents)
			}
		})
	}
}

// TestUnitMatchesK0sInstall runs k0s's real `install controller` command
// (k0s cmd/install, which renders its unit template through
// kardianos/service) with InstallFlags and compares the unit it writes with
// Unit. It runs in a child process with a private mount namespace: /etc is
// an overlay whose writes (the unit, the users k0s creates) land in a
// scratch tmpfs, /run/systemd/system exists so kardianos picks systemd, and
// a no-op systemctl stands in for the service manager's enable and
// daemon-reload.
func TestUnitMatchesK0sInstall(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for a private mount namespace with an overlay on /etc")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range unitCases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := k0sconfig.Build(parseSpec(t, tt.spec), k0sconfig.Reservations{}, tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			data, err := c.YAML()
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			in, _ := json.Marshal(oracleInput{Flags: c.InstallFlags(), YAML: data})
			if err := os.WriteFile(filepath.Join(dir, "input.json"), in, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), oracleEnv+"="+dir)
			cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
			out, err := cmd.CombinedOutput()
			if err != nil {
				if bytes.Contains(out, []byte("operation not permitted")) || bytes.Contains(out, []byte("mount ")) {
					skipOrFail(t, fmt.Sprintf("cannot set up the mount namespace: %v: %s", err, out))
				}
				t.Fatalf("k0s install controller %q: %v\n%s", c.InstallFlags(), err, out)
			}
			got, err := os.ReadFile(filepath.Join(dir, "unit"))
			if err != nil {
				t.Fatal(err)
			}
			want := c.Unit(exe)
			if !bytes.Equal(got, want) {
				t.Errorf("k0s wrote\n%s\n--- Unit gives\n%s", got, want)
			}
			if !bytes.Contains(got, []byte("ExecStart="+exe+" controller ")) {
				t.Errorf("unit does not run %s controller:\n%s", exe, got)
			}
		})
	}
}

type oracleInput struct {
	Flags []string
	YAML  []byte
}

// oracleScratch is a tmpfs in the child's mount namespace holding the
// overlay's upper dir and the fake systemctl.
const oracleScratch = "/mnt"

// prepareOracleMounts is the first stage of the child of
// TestUnitMatchesK0sInstall, already in its own mount namespace (Go makes
// the propagation private): it mounts, then re-executes the binary.
func prepareOracleMounts(dir string) error {
	// overlayfs cannot take its upper dir from another overlay (the root
	// of a container), a tmpfs can.
	if err := syscall.Mount("tmpfs", oracleScratch, "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs %s: %w", oracleScratch, err)
	}
	for _, d := range []string{"upper", "work", "bin"} {
		if err := os.Mkdir(filepath.Join(oracleScratch, d), 0o755); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=/etc,upperdir=%s/upper,workdir=%s/work", oracleScratch, oracleScratch)
	if err := syscall.Mount("overlay", "/etc", "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay on /etc: %w", err)
	}
	if err := syscall.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return fmt.Errorf("mount tmpfs /run: %w", err)
	}
	if err := os.MkdirAll("/run/systemd/system", 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(oracleScratch, "bin", "systemctl"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PATH=") })
	env = append(env, oracleStageEnv+"=2",
		"PATH="+filepath.Join(oracleScratch, "bin")+":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	return syscall.Exec(exe, []string{exe}, env)
}

// runInstallOracle is the second stage: k0s's install command itself.
func runInstallOracle(dir string) error {
	var in oracleInput
	data, err := os.ReadFile(filepath.Join(dir, "input.json"))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, &in); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k0spath.Config), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(k0spath.Config, in.YAML, 0o644); err != nil {
		return err
	}
	cmd := k0sinstall.NewInstallCmd()
	cmd.SetArgs(append([]string{"controller"}, in.Flags...))
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	if err := cmd.Execute(); err != nil {
		return fmt.Errorf("k0s install controller %s: %w\n%s", strings.Join(in.Flags, " "), err, out.String())
	}
	unit, err := os.ReadFile(k0spath.UnitPath)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "unit"), unit, 0o644)
}

// skipOrFail skips a test whose prerequisite is missing, unless EDGEIMG_CI
// is set: CI must run everything.
func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("EDGEIMG_CI") != "" {
		t.Fatal(why)
	}
	t.Skip(why)
}
