package image_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"

	"github.com/edgeimg/edgeimg/internal/testkit"
	"github.com/edgeimg/edgeimg/internal/testkit/ctrd"
	"github.com/edgeimg/edgeimg/internal/testkit/imagebuild"
	"github.com/edgeimg/edgeimg/internal/testkit/qemu"
	"github.com/edgeimg/edgeimg/pkg/bundle"
	"github.com/edgeimg/edgeimg/pkg/image"
	"github.com/edgeimg/edgeimg/pkg/image/device"
	"github.com/edgeimg/edgeimg/pkg/image/disk"
	"github.com/edgeimg/edgeimg/pkg/payload"
)

// partitions reads the partition table of a built raw image with the
// host's sfdisk.
func partitions(t *testing.T, img string) (label string, parts []map[string]any) {
	t.Helper()
	testkit.NeedHostCommand(t, "sfdisk", "fdisk")
	out, err := exec.Command("sfdisk", "--json", img).Output()
	if err != nil {
		t.Fatalf("sfdisk: %v", err)
	}
	var v struct {
		PT struct {
			Label      string           `json:"label"`
			ID         string           `json:"id"`
			Partitions []map[string]any `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v.PT.Label, v.PT.Partitions
}

// TestBuildX86Structure builds the x86_64 image twice and checks it
// offline: byte-identical raw images, clean file systems, the boot entry
// pointing at the root partition, the payload with its owners, modes,
// links and xattrs, enabled units, and the lock file.
func TestBuildX86Structure(t *testing.T) {
	_, key := qemu.LoginKey(t, "edgeimg-test")
	d := testSpec(t, "x86_64-efi", key)
	p, trees := testPayload(t, "amd64")
	xattrsOK := hasXattr(filepath.Join(trees.Tree, "b/meta.db"))
	units := []string{"k0scontroller.service"}
	res1, out1 := build(t, image.Options{Spec: d, Payload: p, EnableUnits: units, Formats: []string{"raw"}})
	p2, _ := testPayload(t, "amd64")
	// The second build gets the same payload content from other paths
	// (the registry's port is in the image names, so the same store).
	p2.Dirs[storeNode], p2.Dirs[treeNode] = trees.Store, trees.Tree
	res2, _ := build(t, image.Options{Spec: d, Payload: p2, EnableUnits: units, Formats: []string{"raw"}})
	if res1.RawSHA256 != res2.RawSHA256 {
		t.Errorf("two builds of the same spec and inputs differ: %s vs %s", res1.RawSHA256, res2.RawSHA256)
	}

	img := filepath.Join(out1, "edge-x86_64-efi.img")
	if got := fileSHA(t, img); got != res1.RawSHA256 {
		t.Fatalf("image sha256 %s, result says %s", got, res1.RawSHA256)
	}
	label, parts := partitions(t, img)
	if label != "gpt" || len(parts) != 2 {
		t.Fatalf("partition table %s with %d partitions, want gpt with 2", label, len(parts))
	}
	start := func(i int) int64 { return int64(parts[i]["start"].(float64)) * 512 }
	size := func(i int) int64 { return int64(parts[i]["size"].(float64)) * 512 }
	rootUUID := strings.ToLower(parts[1]["uuid"].(string))
	if res1.Lock.Image.RootUUID != rootUUID {
		t.Errorf("lock root PARTUUID %s, GPT says %s", res1.Lock.Image.RootUUID, rootUUID)
	}

	dir := t.TempDir()
	tr := imagebuild.Tools(t)
	ctx := context.Background()
	esp := filepath.Join(dir, "esp.fat")
	extractPart(t, img, start(0), size(0), esp)
	fsck := testkit.NeedHostCommand(t, "fsck.fat", "dosfstools")
	if out, err := exec.Command(fsck, "-n", esp).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n ESP: %v\n%s", err, out)
	}
	testkit.NeedHostCommand(t, "mtype", "mtools")
	entry, err := exec.Command("mtype", "-i", esp, "::/loader/entries/edgeimg.conf").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(entry), "root=PARTUUID="+rootUUID) || !strings.Contains(string(entry), "console=ttyS0") {
		t.Errorf("boot entry does not boot the root partition by PARTUUID on the serial console:\n%s", entry)
	}
	for _, f := range []string{"::/EFI/BOOT/BOOTX64.EFI", "::/vmlinuz", "::/initrd.img", "::/edgeimg-device.yaml.example"} {
		if err := exec.Command("mtype", "-i", esp, f).Run(); err != nil {
			t.Errorf("ESP lacks %s", f)
		}
	}

	root := filepath.Join(dir, "root.ext4")
	extractPart(t, img, start(1), size(1), root)
	e := &disk.Ext4{Tools: tr, Epoch: image.DefaultEpoch}
	if err := e.Check(ctx, root); err != nil {
		t.Error(err)
	}
	debugfs := func(req string) string {
		out, err := tr.Output(ctx, nil, "debugfs", "-R", req, root)
		if err != nil {
			t.Fatalf("debugfs %s: %v", req, err)
		}
		return string(out)
	}
	cat := func(p string) string { return debugfs("cat " + p) }
	if got := cat("/usr/local/bin/k0s"); fileSHAString(got) != fileSHA(t, p.Files[indexOf(p.Files, "/usr/local/bin/k0s")].Source) {
		t.Error("k0s binary in the image differs from the payload")
	}
	if got := cat("/etc/k0s/k0s.yaml"); got != renderedK0sYAML(t, p) {
		t.Errorf("k0s.yaml = %q", got)
	}
	checks := []struct{ req, want string }{
		{"stat /etc/k0s/k0s.yaml", "Mode:  0600"},
		{"stat " + treeNode + "/a", "Mode:  0711"},
		{"stat " + treeNode + "/c/owned", "User: 65532   Group: 65532"},
		{"stat " + treeNode + "/a/linked", "Links: 2"},
		{"stat " + treeNode + "/meta-link", "Fast link dest: \"b/meta.db\""},
		{"stat /etc/systemd/system/multi-user.target.wants/k0scontroller.service", "Fast link dest: \"/etc/systemd/system/k0scontroller.service\""},
		{"stat /etc/systemd/system/sysinit.target.wants/edgeimg-growroot.service", "Type: symlink"},
		{"stat /etc/systemd/system/ssh.service.requires/edgeimg-ssh-hostkeys.service", "Type: symlink"},
		{"stat /etc/machine-id", "Size: 0"},
	}
	for _, c := range checks {
		if out := debugfs(c.req); !strings.Contains(out, c.want) {
			t.Errorf("%s: want %q in:\n%s", c.req, c.want, out)
		}
	}
	if xattrsOK {
		if out := debugfs("ea_list " + treeNode + "/b/meta.db"); !strings.Contains(out, `user.edgeimg.test (4) = "kept"`) {
			t.Errorf("payload xattr not in the image: %s", out)
		}
	}
	if out := debugfs("ls /etc/ssh"); strings.Contains(out, "ssh_host_") {
		t.Errorf("the image carries SSH host keys: %s", out)
	}
	if got := cat("/root/.ssh/authorized_keys"); got != key+"\n" {
		t.Errorf("authorized_keys = %q", got)
	}
	if got := cat("/etc/fstab"); !strings.Contains(got, "PARTUUID="+rootUUID+"\t/\text4") {
		t.Errorf("fstab does not mount the root by PARTUUID:\n%s", got)
	}

	// The preloaded containerd root comes out of the image byte for byte,
	// and containerd 1.7.30 (k0s's) lists every image from it.
	dump := filepath.Join(dir, "dump")
	must(t, os.Mkdir(dump, 0o755))
	debugfs("rdump " + storeNode + " " + dump)
	want, err := image.TreeDigest(trees.Store)
	if err != nil {
		t.Fatal(err)
	}
	got, err := image.TreeDigest(filepath.Join(dump, "containerd"))
	if err != nil {
		t.Fatal(err)
	}
	if got.SHA256 != want.SHA256 || got.Entries != want.Entries {
		t.Errorf("containerd root from the image %+v, payload %+v", got, want)
	}
	ctrd := ctrd.Start(t, ctrd.Options{Root: filepath.Join(dump, "containerd")})
	listed, err := ctrd.Ctr("-n", "k8s.io", "images", "ls", "-q")
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range trees.Images {
		for _, n := range im.Names() {
			if !strings.Contains(listed, n+"\n") {
				t.Errorf("containerd does not list %s from the image's root:\n%s", n, listed)
			}
		}
	}

	lock, err := image.ReadLock(filepath.Join(out1, image.LockName))
	if err != nil {
		t.Fatal(err)
	}
	if len(lock.Base.Packages) < 100 || lock.Tools.Versions["e2fsprogs"] == "" || lock.Image.Kernel == "" {
		t.Errorf("lock lacks packages (%d), tool versions or kernel: %+v", len(lock.Base.Packages), lock.Tools)
	}
	if len(lock.Payload.Files) != len(p.Files) || len(lock.Payload.Dirs) != 2 || lock.Payload.Dirs[0].Entries < 8 {
		t.Errorf("lock payload: %+v", lock.Payload)
	}
	sums, err := os.ReadFile(filepath.Join(out1, image.SumsName))
	if err != nil || !strings.Contains(string(sums), res1.RawSHA256+"  edge-x86_64-efi.img") {
		t.Errorf("SHA256SUMS: %q %v", sums, err)
	}
}

func indexOf(fs []payload.File, p string) int {
	for i, f := range fs {
		if f.Path == p {
			return i
		}
	}
	return -1
}

// TestBootX86 boots the x86_64 image in QEMU (TCG, OVMF, 1 vCPU, the
// spec's memory, a disk enlarged before boot) with a per-device config
// written by device.WriteImage, and checks the running system over SSH.
func TestBootX86(t *testing.T) {
	signer, key := qemu.LoginKey(t, "edgeimg-test")
	d := testSpec(t, "x86_64-efi", key)
	p, trees := testPayload(t, "amd64")
	res, out := build(t, image.Options{Spec: d, Payload: p, EnableUnits: []string{"k0scontroller.service"}, Formats: []string{"raw"}})
	img := filepath.Join(t.TempDir(), "disk.img")
	copySparse(t, filepath.Join(out, "edge-x86_64-efi.img"), img)
	dev := &device.Config{
		Hostname: "edge-07",
		MetalLB:  &device.MetalLB{Addresses: []string{"10.0.2.200-10.0.2.210"}},
		Labels:   map[string]string{"example.com/site": "lab", "tier": "edge"},
	}
	if err := device.WriteImage(img, dev); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(img)
	builtSize := fi.Size()
	imagebuild.ResizeRaw(t, img, builtSize+2<<30)

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	vm := boot(ctx, t, d, "amd64", img, signer)
	t.Logf("boot under TCG: multi-user.target after %.1fs, k0scontroller.service started after %.1fs", vm.Milestones["multi-user"].Seconds(), vm.Milestones["k0s"].Seconds())
	run := vm.Run
	if got := run("hostname"); got != "edge-07" {
		t.Errorf("hostname = %q, want the device file's edge-07", got)
	}
	env := run("cat /etc/edgeimg/device.env")
	for _, want := range []string{`EDGEIMG_METALLB_ADDRESSES="10.0.2.200-10.0.2.210"`, `EDGEIMG_NODE_LABELS="example.com/site=lab,tier=edge"`, `EDGEIMG_HOSTNAME="edge-07"`} {
		if !strings.Contains(env, want) {
			t.Errorf("device.env lacks %s:\n%s", want, env)
		}
	}
	if got := run("systemctl is-active edgeimg-growroot.service edgeimg-device.service edgeimg-ssh-hostkeys.service k0scontroller.service"); got != "active\nactive\nactive\nactive" {
		t.Errorf("first-boot units and k0s: %q", got)
	}
	if got := run("systemctl is-enabled k0scontroller.service"); got != "enabled" {
		t.Errorf("k0scontroller.service is %q", got)
	}
	// apply-site ran before k0s: the device's MetalLB addresses are the
	// pool, Kourier is pinned to their first address and the sslip.io
	// domain follows it. (The node labels are set by the promoter once
	// the API answers; the end-to-end test checks that on a real k0s.)
	if got := run("grep -A2 '^  addresses:' /var/lib/edgeimg/staged/metallb-config/metallb-config.yaml"); got != "addresses:\n  - 10.0.2.200-10.0.2.210\n---" {
		t.Errorf("staged MetalLB pool: %q", got)
	}
	if got := run("grep -c 'metallb.io/loadBalancerIPs: 10.0.2.200$' /var/lib/k0s/manifests/kourier/kourier.yaml"); got != "1" {
		t.Errorf("Kourier not pinned to the device's first address: %s", got)
	}
	if got := run("grep -c '10.0.2.200.sslip.io' /var/lib/k0s/manifests/knative-serving/serving-core.yaml"); got != "1" {
		t.Errorf("Knative domain does not follow the device's address: %s", got)
	}
	if got := run("journalctl -b -u k0scontroller.service --no-pager -o cat"); !strings.Contains(got, "k0s stand-in started: controller --config=/etc/k0s/k0s.yaml --single=true") {
		t.Errorf("k0s was not started by the rendered unit:\n%s", got)
	}
	rootBytes := run("findmnt -bno SIZE /")
	if n := atoi(rootBytes); n < builtSize+(3<<29) {
		t.Errorf("root file system %d bytes after boot: not grown to the enlarged %d-byte disk", n, builtSize+2<<30)
	}
	if got := run("cat /etc/machine-id"); !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(got) {
		t.Errorf("machine-id %q", got)
	}
	if got := run("sysctl -n net.ipv4.ip_forward net.bridge.bridge-nf-call-iptables"); got != "1\n1" {
		t.Errorf("sysctls: %q", got)
	}
	if got := run("sshd -T | grep -E '^(passwordauthentication|kbdinteractiveauthentication) '"); got != "passwordauthentication no\nkbdinteractiveauthentication no" {
		t.Errorf("sshd settings: %q", got)
	}
	// Every payload file is intact, except the three apply-site rewrote
	// for the device's addresses (checked above).
	siteFiles := run(". " + bundle.SiteEnvPath + " && echo $EDGEIMG_SITE_POOL_FILE $EDGEIMG_SITE_KOURIER_FILE $EDGEIMG_SITE_DOMAIN_FILE")
	for _, f := range p.Files {
		if slices.Contains(strings.Fields(siteFiles), f.Path) {
			continue
		}
		if got := run("sha256sum " + f.Path + " | cut -d' ' -f1"); got != f.SHA256 {
			t.Errorf("%s on the node: sha256 %s, payload %s", f.Path, got, f.SHA256)
		}
	}
	// The preloaded containerd root is intact on the booted node: every
	// file's content, mode and owner as in the payload.
	if got, want := run("cd "+storeNode+" && find . -type f -printf '%P %m %U:%G ' -exec sh -c 'sha256sum < \"$1\" | cut -c1-64' _ {} \\; | sort"), hostListing(t, trees.Store); got != want {
		t.Errorf("containerd root on the node:\n%s\nwant:\n%s", got, want)
	}
	if got := run("stat -c '%h %a %u' " + treeNode + "/a/linked " + treeNode + "/c/owned"); got != "2 600 0\n1 600 65532" {
		t.Errorf("payload tree on the node: %q", got)
	}

	// Password login is refused: the server offers public keys only.
	_, err := vm.VM.SSH(ctx, "root", ssh.Password("root"), ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return []string{"root"}, nil }))
	if err == nil {
		t.Fatal("password login was accepted")
	}
	if !strings.Contains(err.Error(), "unable to authenticate") || strings.Contains(err.Error(), "attempted methods [none password") && !strings.Contains(err.Error(), "no supported methods remain") {
		t.Errorf("password login: unexpected error %v", err)
	}
	t.Logf("password login refused: %v", err)
	if res.RawSHA256 == "" {
		t.Error("no raw sha256")
	}
}

// bootMilestones are the serial-console lines boot times are taken from.
var bootMilestones = map[string]*regexp.Regexp{
	"multi-user": regexp.MustCompile(`Reached target .*multi-user\.target`),
	"k0s":        regexp.MustCompile(`Started .*k0scontroller\.service`),
}

func atoi(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func fileSHAString(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func hasXattr(p string) bool {
	buf := make([]byte, 16)
	n, err := unix.Getxattr(p, "user.edgeimg.test", buf)
	return err == nil && string(buf[:n]) == "kept"
}

// hostListing lists the files of a host tree as the node-side find does:
// "path mode uid:gid sha256", sorted.
func hostListing(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		rel, _ := filepath.Rel(root, p)
		lines = append(lines, fmt.Sprintf("%s %o %d:%d %s", rel, fi.Mode().Perm(), st.Uid, st.Gid, fileSHA(t, p)))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
