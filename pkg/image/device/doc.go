// Package device is the per-device config of an edgeimg image: the file
// edgeimg-device.yaml on the image's FAT boot partition, which one image
// for a whole fleet reads on every boot to become one particular device.
// A user writes it with 'edgeimg device-config' into an image file, or
// edits it on any laptop after flashing (the partition is FAT).
//
// The file (every key optional):
//
//	hostname: edge-01
//	network:
//	  mode: static              # or dhcp (the default)
//	  interface: eth0           # default: every wired interface
//	  address: 192.168.1.20/24
//	  gateway: 192.168.1.1
//	  dns: [192.168.1.1]
//	ssh:
//	  authorizedKeys:
//	    - ssh-ed25519 AAAA... admin@laptop
//	metallb:
//	  addresses:
//	    - 192.168.1.240-192.168.1.250
//	labels:
//	  example.com/site: berlin
//
// # Node-side contract
//
// edgeimg-device.service (overlays/base/usr/lib/edgeimg/device-config)
// runs before systemd-networkd, ssh and k0scontroller.service and writes:
//
//   - /etc/hostname (and the running host name),
//   - /etc/systemd/network/10-edgeimg-device.network,
//   - /root/.ssh/authorized_keys (the spec's keys plus the device's),
//   - /etc/edgeimg/device.env, a shell/systemd EnvironmentFile with
//     EDGEIMG_HOSTNAME, EDGEIMG_METALLB_ADDRESSES (space-separated MetalLB
//     pool entries: CIDRs, ranges or addresses) and EDGEIMG_NODE_LABELS
//     (comma-separated key=value, the form of k0s's --labels flag).
//
// device.env always exists: the image ships it with the spec's values
// (/etc/edgeimg/device.defaults.env holds those) and the device file
// overrides what it sets. The stacks' apply-site script (run by the device
// unit, before k0s starts) makes the MetalLB pool, Kourier's pinned address
// and the sslip.io domain follow EDGEIMG_METALLB_ADDRESSES; the stack
// promoter labels the node with EDGEIMG_NODE_LABELS once the API answers.
package device
