// Package overlays holds the files edgeimg lays over the Debian base,
// embedded into the binary:
//
//	base/  every image: first-boot units (grow the root, apply the
//	       per-device config), the node-side device-file reader, sysctls
//	       and modules Kubernetes needs, the journald cap, DHCP networking
//	ssh/   images with spec.ssh.enabled: host-key generation before
//	       ssh.service, key-only sshd settings
//
// Files under usr/lib/edgeimg/ are installed executable (0755), the rest
// 0644. "@BOOT_MOUNT_UNIT@" in a file is replaced by the mount unit of the
// board's boot partition.
package overlays
