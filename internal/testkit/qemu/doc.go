// Package qemu boots a built disk image in a QEMU (TCG) VM with UEFI
// firmware and the guest's SSH port forwarded to the host, waits for
// milestones on its serial console, and logs in over SSH.
package qemu
