package k0s

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strings"
)

func bridgeCNIConfig(ipamDir string) string {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "edgeimg-bridge",
		"plugins": []any{map[string]any{
			"type":        "bridge",
			"bridge":      "cni0",
			"isGateway":   true,
			"hairpinMode": true,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  []any{[]any{map[string]any{"subnet": "10.244.0.0/24"}}},
				"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
				"dataDir": ipamDir,
			},
		}},
	}
	b, _ := json.MarshalIndent(conf, "", "  ")
	return string(b)
}

// privateIPAM sets dataDir on every host-local IPAM of a conflist that has
// none (its default is the host's /var/lib/cni/networks).
func privateIPAM(conflist, dir string) (string, error) {
	var conf map[string]any
	if err := json.Unmarshal([]byte(conflist), &conf); err != nil {
		return "", fmt.Errorf("CNI config: %w", err)
	}
	plugins, _ := conf["plugins"].([]any)
	for _, p := range plugins {
		pm, _ := p.(map[string]any)
		ipam, _ := pm["ipam"].(map[string]any)
		if ipam != nil && ipam["type"] == "host-local" && ipam["dataDir"] == nil {
			ipam["dataDir"] = dir
		}
	}
	b, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return "", fmt.Errorf("CNI config: %w", err)
	}
	return string(b), nil
}

// pickVethSubnet picks a /30 in 172.31.128.0/17 that no host route covers.
func pickVethSubnet() (hostIP, nsIP net.IP, err error) {
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("ip route: %w", err)
	}
	var used []*net.IPNet
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" || dst == "unreachable" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if _, n, err := net.ParseCIDR(dst); err == nil {
			used = append(used, n)
		}
	}
	for try := 0; try < 64; try++ {
		var b [2]byte
		_, _ = rand.Read(b[:])
		base := net.IPv4(172, 31, 128|b[0]&0x7f, b[1]&0xfc).To4()
		n := &net.IPNet{IP: base, Mask: net.CIDRMask(30, 32)}
		free := true
		for _, u := range used {
			if u.Contains(n.IP) || n.Contains(u.IP) {
				free = false
				break
			}
		}
		if free {
			h := append(net.IP(nil), base...)
			h[3]++
			p := append(net.IP(nil), base...)
			p[3] += 2
			return h, p, nil
		}
	}
	return nil, nil, errors.New("no free /30 for the veth in 172.31.128.0/17")
}
