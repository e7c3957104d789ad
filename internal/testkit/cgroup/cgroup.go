package cgroup

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Group is a cgroup (in every v1 hierarchy, or the v2 tree) that
// holds all of one cluster's processes: k0s in <root>/k0s, kubelet's pods
// under <root>/kubepods, containerd in <root>/runtime.
type Group struct {
	Root string   // "/edgeimg-k0s-<id>"
	Dirs []string // <mount>/<root> for each hierarchy
}

// base is where the host's cgroup file systems are mounted.
const base = "/sys/fs/cgroup"

// V2 reports whether the host runs the unified cgroup v2 tree (else the v1
// hierarchies).
func V2() bool {
	_, err := os.Stat(filepath.Join(base, "cgroup.controllers"))
	return err == nil
}

func New(name string) (*Group, error) {
	cg := &Group{Root: "/" + name}
	if V2() {
		// cgroup v2: one tree; delegate the controllers kubelet needs.
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, fmt.Errorf("cgroup %s: %w", d, err)
		}
		cg.Dirs = []string{d}
		ctrls, _ := os.ReadFile(filepath.Join(base, "cgroup.subtree_control"))
		var enable []string
		for _, c := range strings.Fields(string(ctrls)) {
			enable = append(enable, "+"+c)
		}
		if err := os.Mkdir(filepath.Join(d, "k0s"), 0o755); err != nil {
			return nil, err
		}
		if len(enable) > 0 {
			if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
				return nil, fmt.Errorf("cgroup %s: enable controllers: %w", d, err)
			}
		}
		return cg, nil
	}
	entries, err := os.ReadDir(base)
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	for _, e := range entries {
		mnt := filepath.Join(base, e.Name())
		if fi, err := os.Lstat(mnt); err != nil || !fi.IsDir() {
			continue // symlinks such as cpu,cpuacct → cpu
		}
		if _, err := os.Stat(filepath.Join(mnt, "cgroup.procs")); err != nil {
			continue
		}
		d := filepath.Join(mnt, name)
		for _, sub := range []string{d, filepath.Join(d, "k0s")} {
			if err := os.Mkdir(sub, 0o755); err != nil {
				cg.Remove()
				return nil, fmt.Errorf("cgroup %s: %w", sub, err)
			}
			cg.Dirs = appendOnce(cg.Dirs, d)
			if strings.Contains(e.Name(), "cpuset") {
				for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
					v, _ := os.ReadFile(filepath.Join(mnt, f))
					if err := os.WriteFile(filepath.Join(sub, f), v, 0o644); err != nil {
						cg.Remove()
						return nil, fmt.Errorf("cgroup %s: %w", sub, err)
					}
				}
			}
		}
	}
	if len(cg.Dirs) == 0 {
		return nil, errors.New("cgroups: no hierarchy under " + base)
	}
	return cg, nil
}

// Limit caps the cluster's cgroup (and so every child) at cpuMilli of CPU
// time and a memory limit; zero leaves them as they are.
func (cg *Group) Limit(cpuMilli, memory int64) error {
	write := func(file, value string) error {
		for _, d := range cg.Dirs {
			p := filepath.Join(d, file)
			if _, err := os.Stat(p); err != nil {
				continue
			}
			if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
				return fmt.Errorf("cgroup %s = %s: %w", p, value, err)
			}
			return nil
		}
		return fmt.Errorf("cgroups %v: no %s", cg.Dirs, file)
	}
	if cpuMilli > 0 {
		const period = 100000 // µs
		quota := strconv.FormatInt(cpuMilli*period/1000, 10)
		if err := write("cpu.cfs_quota_us", quota); err != nil {
			if err2 := write("cpu.max", quota+" "+strconv.Itoa(period)); err2 != nil {
				return errors.Join(err, err2)
			}
		} else if err := write("cpu.cfs_period_us", strconv.Itoa(period)); err != nil {
			return err
		}
	}
	if memory > 0 {
		v := strconv.FormatInt(memory, 10)
		if err := write("memory.limit_in_bytes", v); err != nil {
			if err2 := write("memory.max", v); err2 != nil {
				return errors.Join(err, err2)
			}
		}
	}
	return nil
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

// ProcsFiles are the cgroup.procs files of the child cgroup sub.
func (cg *Group) ProcsFiles(sub string) []string {
	var fs []string
	for _, d := range cg.Dirs {
		fs = append(fs, filepath.Join(d, sub, "cgroup.procs"))
	}
	return fs
}

// PIDs lists the processes anywhere in the cluster's cgroups.
func (cg *Group) PIDs() map[int]bool {
	pids := map[int]bool{}
	for _, d := range cg.Dirs {
		maps.Copy(pids, PIDsUnder(d))
	}
	return pids
}

// PIDsUnder lists the processes in the cgroup directory dir and its
// descendants (none when dir does not exist).
func PIDsUnder(dir string) map[int]bool {
	pids := map[int]bool{}
	_ = filepath.WalkDir(dir, func(p string, e os.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "cgroup.procs" {
			return nil
		}
		b, _ := os.ReadFile(p)
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				pids[pid] = true
			}
		}
		return nil
	})
	return pids
}

// KillAndRemove SIGKILLs every process in the cgroups until none is left,
// then removes the cgroup directories.
func (cg *Group) KillAndRemove(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		pids := cg.PIDs()
		if len(pids) == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d processes still alive in %s", len(pids), cg.Root)
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return cg.Remove()
}

// Remove deletes the cgroup trees, deepest first.
func (cg *Group) Remove() error {
	var errs []error
	for _, d := range cg.Dirs {
		var dirs []string
		_ = filepath.WalkDir(d, func(p string, e os.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", dirs[i], err))
			}
		}
	}
	return errors.Join(errs...)
}
