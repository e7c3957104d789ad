package k0sconfig

import (
	"strings"
)

// Unit is the systemd unit `k0s install controller <InstallFlags>` writes
// to /etc/systemd/system/k0scontroller.service when its binary is k0sPath
// (absolute): k0s's template (pkg/install/linux_systemd.go) as the
// kardianos/service systemd backend fills it, byte for byte.
func (c *Config) Unit(k0sPath string) []byte {
	var b strings.Builder
	path := unitEscape(k0sPath)
	b.WriteString("[Unit]\n")
	b.WriteString("Description=k0s - Zero Friction Kubernetes\n")
	b.WriteString("Documentation=https://docs.k0sproject.io\n")
	b.WriteString("ConditionFileIsExecutable=" + path + "\n")
	// kardianos renders each dependency as "\n<dep> ".
	for _, dep := range []string{"After=network-online.target", "Wants=network-online.target"} {
		b.WriteString("\n" + dep + " ")
	}
	b.WriteString("\n\n[Service]\n")
	b.WriteString("StartLimitInterval=5\n")
	b.WriteString("StartLimitBurst=10\n")
	b.WriteString("ExecStart=" + path)
	for _, a := range c.unitArgs() {
		b.WriteString(" " + unitEscape(a))
	}
	// k0s writes each --env, in the order given, as a quoted Environment=.
	for _, kv := range c.envList() {
		b.WriteString("\nEnvironment=\"" + kv + "\"")
	}
	b.WriteString("\n\n")
	b.WriteString("RestartSec=10\n")
	b.WriteString("Delegate=yes\n")
	b.WriteString("KillMode=process\n")
	b.WriteString("LimitCORE=infinity\n")
	b.WriteString("TasksMax=infinity\n")
	b.WriteString("TimeoutStartSec=0\n")
	b.WriteString("LimitNOFILE=999999\n")
	b.WriteString("Restart=always\n")
	b.WriteString("\n[Install]\n")
	b.WriteString("WantedBy=multi-user.target\n")
	return []byte(b.String())
}

// unitEscape is kardianos's cmdEscape: spaces become \x20, which systemd
// decodes in ExecStart.
func unitEscape(s string) string { return strings.ReplaceAll(s, " ", `\x20`) }
