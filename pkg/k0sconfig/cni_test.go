package k0sconfig_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containernetworking/cni/libcni"
	current "github.com/containernetworking/cni/pkg/types/100"
	"golang.org/x/sys/unix"

	"github.com/edgeimg/edgeimg/pkg/k0sconfig"
)

// checkConflist parses the bridge conflist with libcni (what containerd's
// CRI plugin uses) and checks the plugin chain and the pod subnet.
func checkConflist(t *testing.T, c *k0sconfig.Config, subnet string) *libcni.NetworkConfigList {
	t.Helper()
	files := c.ExtraFiles()
	if len(files) != 1 || files[0].Path != k0sconfig.BridgeConflistPath || files[0].Mode != 0o644 {
		t.Fatalf("extra files = %+v, want %s 0644", files, k0sconfig.BridgeConflistPath)
	}
	list, err := libcni.ConfListFromBytes(files[0].Data)
	if err != nil {
		t.Fatalf("libcni rejects the conflist: %v\n%s", err, files[0].Data)
	}
	var types []string
	for _, p := range list.Plugins {
		types = append(types, p.Network.Type)
	}
	if len(types) != 2 || types[0] != "bridge" || types[1] != "portmap" {
		t.Errorf("plugins = %v, want bridge, portmap", types)
	}
	var bridge struct {
		Bridge    string `json:"bridge"`
		IsGateway bool   `json:"isGateway"`
		IPMasq    bool   `json:"ipMasq"`
		IPAM      struct {
			Type   string `json:"type"`
			Ranges [][]struct {
				Subnet string `json:"subnet"`
			} `json:"ranges"`
		} `json:"ipam"`
	}
	if err := json.Unmarshal(list.Plugins[0].Bytes, &bridge); err != nil {
		t.Fatal(err)
	}
	if bridge.Bridge != "kube-bridge" || !bridge.IsGateway || !bridge.IPMasq || bridge.IPAM.Type != "host-local" {
		t.Errorf("bridge plugin = %+v", bridge)
	}
	if len(bridge.IPAM.Ranges) == 0 || bridge.IPAM.Ranges[0][0].Subnet != subnet {
		t.Errorf("ipam ranges = %+v, want %s", bridge.IPAM.Ranges, subnet)
	}
	return list
}

// cniOracleEnv makes the test binary run the bridge conflist through the
// real CNI plugins inside fresh network and mount namespaces (runCNIOracle).
const cniOracleEnv = "EDGEIMG_CNI_ORACLE"

// debianCNIDir is where Debian's containernetworking-plugins installs the
// plugins the image links into /opt/cni/bin.
const debianCNIDir = "/usr/lib/cni"

// TestBridgeConflistWithRealPlugins attaches a pod network namespace with
// the bridge conflist the way containerd does (libcni AddNetworkList with
// Debian's bridge, host-local, portmap plugins), then checks the pod got an
// address in the pod CIDR, reaches its gateway on kube-bridge, is reached
// from the host through a hostPort, and is cleaned up by DEL.
func TestBridgeConflistWithRealPlugins(t *testing.T) {
	if os.Geteuid() != 0 {
		skipOrFail(t, "needs root for network namespaces")
	}
	for _, p := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join(debianCNIDir, p)); err != nil {
			skipOrFail(t, fmt.Sprintf("CNI plugin %s missing (apt-get install containernetworking-plugins): %v", p, err))
		}
	}
	for _, tool := range []string{"ip", "iptables"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, fmt.Sprintf("%s missing (apt-get install iproute2 iptables)", tool))
		}
	}
	c, err := k0sconfig.Build(parseSpec(t, header+"spec:\n  k0s:\n    network: bridge\n    config:\n      network:\n        podCIDR: 10.77.0.0/16\n"), k0sconfig.Reservations{})
	if err != nil {
		t.Fatal(err)
	}
	files := c.ExtraFiles()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "conflist"), files[0].Data, 0o644); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), cniOracleEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("CNI ADD/DEL with the bridge conflist: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}

// runCNIOracle is the child of TestBridgeConflistWithRealPlugins: its
// network namespace plays the node.
func runCNIOracle(dir string) error {
	// /run for `ip netns`, /var/lib for host-local's allocations
	// (/var/lib/cni): nothing of the test lands on the machine.
	for _, d := range []string{"/run", "/var/lib"} {
		if err := syscall.Mount("tmpfs", d, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("mount tmpfs %s: %w", d, err)
		}
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"netns", "add", "pod"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	data, err := os.ReadFile(filepath.Join(dir, "conflist"))
	if err != nil {
		return err
	}
	list, err := libcni.ConfListFromBytes(data)
	if err != nil {
		return err
	}
	cni := libcni.NewCNIConfig([]string{debianCNIDir}, nil)
	rt := &libcni.RuntimeConf{
		ContainerID: "edgeimg-test",
		NetNS:       "/run/netns/pod",
		IfName:      "eth0",
		CapabilityArgs: map[string]any{
			"portMappings": []map[string]any{{"hostPort": 30080, "containerPort": 8080, "protocol": "tcp"}},
		},
	}
	ctx := context.Background()
	res, err := cni.AddNetworkList(ctx, list, rt)
	if err != nil {
		return fmt.Errorf("ADD: %w", err)
	}
	r, err := current.NewResultFromResult(res)
	if err != nil {
		return err
	}
	_, podNet, _ := net.ParseCIDR("10.77.0.0/16")
	if len(r.IPs) != 1 || !podNet.Contains(r.IPs[0].Address.IP) {
		return fmt.Errorf("pod addresses %v: want one in %s", r.IPs, podNet)
	}
	podIP := r.IPs[0].Address.IP
	gw := r.IPs[0].Gateway
	fmt.Printf("pod %s gateway %s\n", podIP, gw)
	if out, err := exec.Command("ip", "-o", "addr", "show", "dev", "kube-bridge").CombinedOutput(); err != nil || !strings.Contains(string(out), gw.String()+"/16") {
		return fmt.Errorf("kube-bridge does not carry the gateway %s: %v: %s", gw, err, out)
	}

	// Host → pod through the hostPort (portmap's DNAT) and pod → gateway.
	podLn, err := inNetns("/run/netns/pod", func() (net.Listener, error) { return net.Listen("tcp", ":8080") })
	if err != nil {
		return fmt.Errorf("listen in the pod: %w", err)
	}
	defer podLn.Close()
	go serveHello(podLn, "pod")
	hostLn, err := net.Listen("tcp", net.JoinHostPort(gw.String(), "9999"))
	if err != nil {
		return err
	}
	defer hostLn.Close()
	go serveHello(hostLn, "host")
	if got, err := dialRead(net.JoinHostPort(podIP.String(), "8080")); err != nil || got != "pod" {
		return fmt.Errorf("host → pod %s:8080: %q, %v", podIP, got, err)
	}
	if got, err := dialRead(net.JoinHostPort(gw.String(), "30080")); err != nil || got != "pod" {
		return fmt.Errorf("host → hostPort %s:30080: %q, %v", gw, got, err)
	}
	got, err := inNetns("/run/netns/pod", func() (string, error) { return dialRead(net.JoinHostPort(gw.String(), "9999")) })
	if err != nil || got != "host" {
		return fmt.Errorf("pod → gateway %s:9999: %q, %v", gw, got, err)
	}

	if err := cni.DelNetworkList(ctx, list, rt); err != nil {
		return fmt.Errorf("DEL: %w", err)
	}
	if _, err := inNetns("/run/netns/pod", func() (*net.Interface, error) { return net.InterfaceByName("eth0") }); err == nil {
		return fmt.Errorf("the pod's eth0 is still there after DEL")
	}
	fmt.Println("ADD, traffic and DEL ok")
	return nil
}

func serveHello(ln net.Listener, msg string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.Write([]byte(msg))
		c.Close()
	}
}

func dialRead(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// inNetns runs f on an OS thread switched into the network namespace at
// path; sockets created there stay in that namespace.
func inNetns[T any](path string, f func() (T, error)) (T, error) {
	var zero T
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := os.Open(path)
		if err != nil {
			ch <- result{zero, err}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{zero, fmt.Errorf("setns %s: %w", path, err)}
			return
		}
		v, err := f()
		ch <- result{v, err}
	}()
	r := <-ch
	return r.v, r.err
}
